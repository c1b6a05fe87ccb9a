//! Object ids in Dodo's style: a type prefix plus 21 random alphanumerics (`pay_2x9...`).
//!
//! Object ids come from `fastrand` (seeded from the OS per thread): ids need uniqueness, not
//! secrecy. Everything that grants access (webhook secrets, client secrets, license keys,
//! portal and CSRF tokens) comes from the operating system's CSPRNG ([`secure_bytes`]), so a
//! token seen once cannot be used to predict the next.

use base64::Engine as _;

/// Length of the random part of an id.
pub const ID_RANDOM_LEN: usize = 21;

/// A new id with the given prefix (`"pay_"`).
pub fn new_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + ID_RANDOM_LEN);
    s.push_str(prefix);
    s.extend(std::iter::repeat_with(fastrand::alphanumeric).take(ID_RANDOM_LEN));
    s
}

/// A request id for the `x-request-id` header (`req_` + 21 alphanumerics).
pub fn request_id() -> String {
    new_id("req_")
}

/// `N` bytes from the operating system's CSPRNG.
///
/// # Panics
///
/// When the operating system offers no random source at all (as `std`'s own hash maps
/// would); never because of input.
pub fn secure_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("the operating system's random source failed: {e}");
    }
    bytes
}

/// A webhook signing secret: `whsec_` + base64 of 32 CSPRNG bytes.
pub fn webhook_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(secure_bytes::<32>())
    )
}

/// An unguessable URL-safe token of 32 CSPRNG bytes (portal sessions, CSRF tokens).
pub fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secure_bytes::<32>())
}

/// A random upper-case code of `len` characters from the CSPRNG (discount codes, license
/// keys, client secrets).
pub fn upper_code(len: usize) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        // 252 = 7 × 36: rejecting larger bytes keeps every character equally likely.
        for b in secure_bytes::<32>() {
            if b < 252 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    out
}

/// A random version-4 UUID in its hyphenated lower-case form, for the objects the API
/// identifies by UUID (collection groups and items, image and file ids).
pub fn uuid_v4() -> String {
    let mut b = secure_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_21_alphanumerics() {
        let id = new_id("pay_");
        assert!(id.starts_with("pay_"));
        let rest = &id[4..];
        assert_eq!(rest.len(), 21);
        assert!(rest.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(new_id("pay_"), new_id("pay_"));
    }

    #[test]
    fn webhook_secret_is_whsec_and_32_bytes() {
        let s = webhook_secret();
        let b64 = s.strip_prefix("whsec_").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn tokens_and_codes_are_random_and_well_formed() {
        let t = token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, token());
        let c = upper_code(40);
        assert_eq!(c.len(), 40);
        assert!(
            c.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_ne!(upper_code(16), upper_code(16));
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(u.matches('-').count(), 4);
        assert_ne!(u, uuid_v4());
    }
}
