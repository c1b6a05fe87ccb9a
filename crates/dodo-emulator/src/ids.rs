//! Object ids in Dodo's style: a type prefix plus 21 random alphanumerics (`pay_2x9...`).
//!
//! Randomness comes from `fastrand` (seeded from the OS per thread): ids and secrets of a local
//! emulator need uniqueness, not cryptographic strength.

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

/// A webhook signing secret: `whsec_` + base64 of 32 random bytes.
pub fn webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    fastrand::fill(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A random upper-case code of `len` characters (discount codes, license keys).
pub fn upper_code(len: usize) -> String {
    std::iter::repeat_with(|| fastrand::alphanumeric().to_ascii_uppercase())
        .take(len)
        .collect()
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
}
