//! Fuzz target: arbitrary headers and body through verification, event parsing and the
//! dispatcher. Properties: nothing panics; a body that parses re-serialises to JSON that
//! parses again to the same event type and business; the dispatcher always answers with a
//! status in {200, 400, 401}.

#![no_main]

use arbitrary::Arbitrary;
use dodo_webhooks::{Dispatcher, ManualClock, Verifier, WebhookEvent, WebhookSecret};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_754_285_445;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Extra or replacement header pairs, looked up case-insensitively.
    headers: Vec<(&'a str, &'a [u8])>,
    /// Whether to add correct `webhook-*` headers for the body (so parsing is reached).
    sign: bool,
    /// Offset of the signed timestamp from the verifier's clock.
    skew: i16,
    id: &'a str,
    body: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let secret = match WebhookSecret::from_bytes(b"fuzz-secret-0123456789abcdef0123".to_vec()) {
        Ok(secret) => secret,
        Err(_) => return,
    };
    let verifier = Verifier::new(secret).with_clock(ManualClock::new(NOW));

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    if input.sign {
        let signed =
            verifier.signed_headers(input.id, NOW + i64::from(input.skew), input.body);
        for (name, value) in signed.pairs() {
            headers.push((name.to_owned(), value.as_bytes().to_vec()));
        }
    }
    headers.extend(
        input
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_vec())),
    );

    if verifier.verify(&headers, input.body).is_ok()
        || verifier.verify_ignoring_timestamp(&headers, input.body).is_ok()
    {
        if let Ok(event) = WebhookEvent::parse(input.body) {
            let json = event.to_json().expect("a parsed event serialises");
            let again = WebhookEvent::parse(&json).expect("a serialised event parses again");
            assert_eq!(again.event_type(), event.event_type());
            assert_eq!(again.business_id, event.business_id);
        }
    }

    let dispatcher = Dispatcher::new(verifier, ());
    let outcome = futures_util::FutureExt::now_or_never(dispatcher.process(&headers, input.body))
        .expect("no handlers, so nothing is pending");
    assert!(
        matches!(outcome.status, 200 | 400 | 401),
        "unexpected status {}",
        outcome.status
    );
});
