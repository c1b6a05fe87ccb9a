//! Table-driven tests over the shared Standard Webhooks vectors, plus a cross-check of
//! signing and verification against an independent HMAC implementation (`ring`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use dodo_webhooks::{HeaderKind, ManualClock, SecretError, Verifier, VerifyError, WebhookSecret};
use serde_json::Value;

fn vectors() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/standard-webhooks-vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the Standard Webhooks vector file is required for this test but could not be read \
             at {}: {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key} in {v}"))
}

struct Base {
    secret: String,
    id: String,
    timestamp: i64,
    payload: String,
    signature: String,
}

fn base(vectors: &Value, id: &str) -> Base {
    let v = vectors["sign_vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no sign vector {id}"));
    Base {
        secret: str_of(v, "secret").to_owned(),
        id: str_of(v, "msg_id").to_owned(),
        timestamp: v["timestamp"].as_i64().unwrap(),
        payload: str_of(v, "payload").to_owned(),
        signature: str_of(v, "expected_signature").to_owned(),
    }
}

fn expect_kind(result: &Result<dodo_webhooks::VerifiedDelivery, VerifyError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(VerifyError::NoMatchingSignature) => "invalid_signature",
        Err(VerifyError::TimestampTooOld) => "timestamp_too_old",
        Err(VerifyError::TimestampTooNew) => "timestamp_too_new",
        Err(VerifyError::InvalidTimestamp) => "invalid_timestamp",
        Err(VerifyError::MissingHeader(_)) => "missing_header",
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn sign_vectors_reproduce() {
    let v = vectors();
    let signs = v["sign_vectors"].as_array().unwrap();
    assert!(signs.len() >= 2);
    for case in signs {
        let secret = WebhookSecret::new(str_of(case, "secret")).unwrap();
        assert_eq!(
            secret.as_bytes().len() as u64,
            case["key_bytes_len"].as_u64().unwrap()
        );
        let sig = secret.sign(
            str_of(case, "msg_id"),
            case["timestamp"].as_i64().unwrap(),
            str_of(case, "payload").as_bytes(),
        );
        assert_eq!(sig, str_of(case, "expected_signature"), "{}", case["id"]);
    }
}

#[test]
fn derived_vectors_reproduce_and_verify() {
    let v = vectors();
    let derived = v["derived_vectors_not_official"].as_array().unwrap();
    assert!(derived.len() >= 4);
    for case in derived {
        let secret = WebhookSecret::new(str_of(case, "secret")).unwrap();
        if let Some(padded) = case["padded_form"].as_str() {
            assert_eq!(
                secret,
                WebhookSecret::new(padded).unwrap(),
                "{}",
                case["id"]
            );
        }
        let ts = case["timestamp"].as_i64().unwrap();
        let id = str_of(case, "msg_id");
        let payload = str_of(case, "payload").as_bytes();
        let expected = str_of(case, "expected_signature");
        assert_eq!(secret.sign(id, ts, payload), expected, "{}", case["id"]);
        let verifier = Verifier::new(secret).with_clock(ManualClock::new(ts));
        let headers = [
            ("webhook-id", id),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", expected),
        ];
        assert_eq!(verifier.verify(&headers, payload).unwrap().id, id);
    }
}

#[test]
fn reserialised_body_does_not_verify_with_the_original_signature() {
    let v = vectors();
    let b = base(&v, "cross-language-1");
    let verifier = Verifier::from_secret(&b.secret)
        .unwrap()
        .with_clock(ManualClock::new(b.timestamp));
    let headers = [
        ("webhook-id", b.id.as_str()),
        ("webhook-timestamp", &b.timestamp.to_string()),
        ("webhook-signature", b.signature.as_str()),
    ];
    assert!(verifier.verify(&headers, b.payload.as_bytes()).is_ok());
    assert_eq!(
        verifier.verify(&headers, br#"{"test":2432232314}"#),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn verify_cases() {
    let v = vectors();
    let cases = v["verify_cases"].as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        let case_id = str_of(case, "id");
        let expect = str_of(case, "expect");
        let b = base(&v, case["based_on"].as_str().unwrap_or("cross-language-1"));

        if let Some(secrets) = case["secrets"].as_array() {
            assert_eq!(expect, "invalid_secret");
            for s in secrets {
                assert_eq!(
                    WebhookSecret::new(s.as_str().unwrap()).unwrap_err(),
                    SecretError::Empty,
                    "{case_id}"
                );
                checked += 1;
            }
            continue;
        }

        let secret = case["secret"].as_str().unwrap_or(&b.secret);
        let now = case["now"].as_i64().unwrap_or(b.timestamp);
        let verifier = Verifier::from_secret(secret)
            .unwrap()
            .with_clock(ManualClock::new(now));
        let mut headers: BTreeMap<String, String> = match case["headers"].as_object() {
            Some(h) => h
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
            None => [
                ("webhook-id", b.id.clone()),
                ("webhook-timestamp", b.timestamp.to_string()),
                ("webhook-signature", b.signature.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        };
        let body = b.payload.as_bytes();

        if case_id == "missing-headers" {
            for kind in [HeaderKind::Id, HeaderKind::Timestamp, HeaderKind::Signature] {
                let mut h = headers.clone();
                h.remove(kind.name());
                let result = verifier.verify(&h, body);
                assert_eq!(expect_kind(&result), expect, "{case_id}");
                assert_eq!(result, Err(VerifyError::MissingHeader(kind)));
                checked += 1;
            }
            continue;
        }
        if let Some(values) = case["signature_values"].as_array() {
            for value in values {
                headers.insert("webhook-signature".into(), value.as_str().unwrap().into());
                assert_eq!(
                    expect_kind(&verifier.verify(&headers, body)),
                    expect,
                    "{case_id} {value}"
                );
                checked += 1;
            }
            continue;
        }
        if let Some(values) = case["timestamp_header_values"].as_array() {
            for value in values {
                headers.insert("webhook-timestamp".into(), value.as_str().unwrap().into());
                assert_eq!(
                    expect_kind(&verifier.verify(&headers, body)),
                    expect,
                    "{case_id} {value}"
                );
                assert_eq!(
                    expect_kind(&verifier.verify_ignoring_timestamp(&headers, body)),
                    expect,
                    "{case_id} {value} (ignoring timestamp)"
                );
                checked += 1;
            }
            continue;
        }
        let result = verifier.verify(&headers, body);
        assert_eq!(expect_kind(&result), expect, "{case_id}");
        if expect.starts_with("timestamp_too") {
            // The same delivery verifies when the tolerance check is skipped.
            assert!(
                verifier.verify_ignoring_timestamp(&headers, body).is_ok(),
                "{case_id}"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= cases.len(),
        "only {checked} checks for {} cases",
        cases.len()
    );
}

/// A small deterministic generator so the cross-check covers many inputs reproducibly.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// HMAC-SHA256 computed by `ring`, a separate implementation from the `hmac` crate.
fn ring_signature(key: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(format!("{id}.{ts}.").as_bytes());
    ctx.update(body);
    let tag = ctx.sign();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

#[test]
fn cross_check_against_ring() {
    let mut rng = Lcg(0x5eed);
    for round in 0..300 {
        let key_len = 1 + (rng.next() % 100) as usize;
        let key = rng.bytes(key_len);
        let body_len = (rng.next() % 3000) as usize;
        let body = rng.bytes(body_len);
        let id = format!("msg_{round}_{}", rng.next());
        let ts = 1_600_000_000 + (rng.next() % 100_000_000) as i64;

        let expected = ring_signature(&key, &id, ts, &body);
        let secret = WebhookSecret::from_bytes(key.clone()).unwrap();
        assert_eq!(secret.sign(&id, ts, &body), expected, "round {round}");

        // The same key given as whsec_ text decodes to the same bytes.
        let text = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&key)
        );
        let verifier = Verifier::from_secret(&text)
            .unwrap()
            .with_clock(ManualClock::new(ts));
        let headers = [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", format!("v2,abc {expected}")),
        ];
        assert_eq!(verifier.verify(&headers, &body).unwrap().id, id);

        // Any single flipped byte of the body fails.
        if !body.is_empty() {
            let mut tampered = body.clone();
            let at = (rng.next() as usize) % tampered.len();
            tampered[at] ^= 1 << (rng.next() % 8);
            assert_eq!(
                verifier.verify(&headers, &tampered),
                Err(VerifyError::NoMatchingSignature),
                "round {round}"
            );
        }
    }
}
