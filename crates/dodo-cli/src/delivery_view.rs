//! How a delivery of the emulator is shown: one line per attempt with the app's answer (for
//! people), or the delivery JSON as the emulator reported it (for `--json`).

use serde_json::Value;

use crate::http::short;

/// What the app answered to one delivery attempt: status and a short body, or the error.
pub fn attempt_answer(attempt: &Value) -> String {
    match attempt["status_code"].as_i64() {
        Some(code) => format!(
            "{code} {}",
            short(attempt["response_body"].as_str().unwrap_or_default())
        ),
        None => attempt["error"].as_str().unwrap_or("no answer").to_string(),
    }
}

/// Prints a settled delivery (`GET /_emulator/deliveries/{id}`) and all its attempts.
pub fn print_delivery(d: &Value) {
    say!(
        "→ {} {} to {} ({})",
        d["event_type"].as_str().unwrap_or_default(),
        d["event_id"].as_str().unwrap_or_default(),
        d["url"].as_str().unwrap_or_default(),
        d["status"].as_str().unwrap_or_default()
    );
    for a in d["attempt_log"].as_array().into_iter().flatten() {
        let answer = attempt_answer(a);
        say!(
            "    attempt {}: {answer} ({} ms)",
            a["attempt"],
            a["duration_ms"]
        );
    }
}

/// One line for one attempt of a delivery, as `listen` prints it.
pub fn attempt_line(delivery: &Value, attempt: &Value) -> String {
    format!(
        "{} {} {} attempt {} → {}",
        attempt["at"].as_str().unwrap_or_default(),
        delivery["event_type"].as_str().unwrap_or_default(),
        delivery["event_id"].as_str().unwrap_or_default(),
        attempt["attempt"],
        attempt_answer(attempt),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_is_the_status_and_body_or_the_error() {
        assert_eq!(
            attempt_answer(&json!({"status_code": 200, "response_body": "thanks"})),
            "200 thanks"
        );
        assert_eq!(
            attempt_answer(&json!({"status_code": null, "error": "connection refused"})),
            "connection refused"
        );
    }
}
