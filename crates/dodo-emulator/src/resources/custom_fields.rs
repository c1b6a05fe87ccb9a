//! Custom fields a checkout session collects from the buyer (`custom_fields`, "max 5
//! fields") and the `custom_field_responses` they become on the payment and subscription.
//!
//! [`check_definitions`] refuses a session whose fields could not be answered: more than
//! five, an empty or repeated `key`, an empty `label`, a `dropdown` without options (422
//! naming the field). [`answers`] checks what a buyer gave for each field by its
//! `field_type` — `number` a finite number, `email` an address, `url` an absolute http(s)
//! URL, `date` a `YYYY-MM-DD` calendar date, `dropdown` one of its `options`, `boolean` a
//! checkbox (`"true"`/`"false"`; a required one must be ticked), `text` anything — and a
//! `required` field must be answered. It answers the responses (`[{key, value}]`, in the
//! session's order, unanswered optional fields left out) or every problem in words a buyer
//! can act on.

use serde_json::{Value, json};

use crate::error::ApiError;

/// At most this many custom fields per session.
pub const MAX_FIELDS: usize = 5;

/// The field types the spec lists (`CustomFieldType`).
const TYPES: [&str; 7] = [
    "text", "number", "email", "url", "date", "dropdown", "boolean",
];

/// Refuses custom field definitions (`custom_fields` of a session) a buyer could not answer.
pub fn check_definitions(defs: &Value) -> Result<(), ApiError> {
    let Some(defs) = defs.as_array() else {
        return Ok(());
    };
    if defs.len() > MAX_FIELDS {
        return Err(ApiError::invalid_field(
            "custom_fields",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    let mut keys: Vec<&str> = Vec::with_capacity(defs.len());
    for (i, d) in defs.iter().enumerate() {
        let at = |f: &str| format!("custom_fields[{i}].{f}");
        let key = d["key"].as_str().unwrap_or_default();
        if key.trim().is_empty() {
            return Err(ApiError::invalid_field(&at("key"), "must not be empty"));
        }
        if keys.contains(&key) {
            return Err(ApiError::invalid_field(
                &at("key"),
                format!("`{key}` is used by another field"),
            ));
        }
        keys.push(key);
        if d["label"].as_str().is_none_or(|l| l.trim().is_empty()) {
            return Err(ApiError::invalid_field(&at("label"), "must not be empty"));
        }
        let ty = d["field_type"].as_str().unwrap_or_default();
        if !TYPES.contains(&ty) {
            return Err(ApiError::invalid_field(
                &at("field_type"),
                format!("unknown variant `{ty}`"),
            ));
        }
        let options = d["options"].as_array().map_or(0, Vec::len);
        if ty == "dropdown" && options == 0 {
            return Err(ApiError::invalid_field(
                &at("options"),
                "a dropdown needs at least one option",
            ));
        }
    }
    Ok(())
}

/// The buyer's answers to `defs`, read by key from `given`: the responses, or the problems.
pub fn answers(defs: &Value, given: &dyn Fn(&str) -> Option<String>) -> Result<Value, Vec<String>> {
    let mut responses = Vec::new();
    let mut problems = Vec::new();
    for d in defs.as_array().map(Vec::as_slice).unwrap_or_default() {
        let key = d["key"].as_str().unwrap_or_default();
        let label = d["label"].as_str().unwrap_or(key);
        let required = d["required"] == true;
        let ty = d["field_type"].as_str().unwrap_or("text");
        let raw = given(key).unwrap_or_default();
        let raw = raw.trim();
        if ty == "boolean" {
            let ticked = matches!(raw, "true" | "on" | "1" | "yes");
            if required && !ticked {
                problems.push(format!("{label} must be ticked."));
            } else {
                responses.push(json!({"key": key, "value": ticked.to_string()}));
            }
            continue;
        }
        if raw.is_empty() {
            if required {
                problems.push(format!("{label} is required."));
            }
            continue;
        }
        let fits = match ty {
            "number" => raw.parse::<f64>().is_ok_and(f64::is_finite),
            "email" => raw
                .split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !raw.contains(' ')),
            "url" => super::return_urls::check(key, raw).is_ok(),
            "date" => time::Date::parse(
                raw,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .is_ok(),
            "dropdown" => d["options"]
                .as_array()
                .is_some_and(|o| o.iter().any(|v| v.as_str() == Some(raw))),
            _ => true,
        };
        if fits {
            responses.push(json!({"key": key, "value": raw}));
        } else {
            problems.push(match ty {
                "number" => format!("{label} must be a number."),
                "email" => format!("{label} must be an email address."),
                "url" => {
                    format!("{label} must be a web address starting with http:// or https://.")
                }
                "date" => format!("{label} must be a date (YYYY-MM-DD)."),
                _ => format!("{label} must be one of the listed options."),
            });
        }
    }
    if problems.is_empty() {
        Ok(Value::Array(responses))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Value {
        json!([
            {"key": "company", "label": "Company", "field_type": "text", "required": true},
            {"key": "seats", "label": "Seats", "field_type": "number"},
            {"key": "plan", "label": "Plan", "field_type": "dropdown", "options": ["a", "b"]},
            {"key": "start", "label": "Start", "field_type": "date"},
            {"key": "terms", "label": "Terms", "field_type": "boolean", "required": true},
        ])
    }

    #[test]
    fn answers_are_checked_by_type() {
        let ok = answers(&defs(), &|k| {
            Some(match k {
                "company" => "Acme".into(),
                "seats" => "12".into(),
                "plan" => "b".into(),
                "terms" => "on".into(),
                _ => String::new(),
            })
        })
        .unwrap();
        assert_eq!(
            ok,
            json!([{"key": "company", "value": "Acme"}, {"key": "seats", "value": "12"},
                   {"key": "plan", "value": "b"}, {"key": "terms", "value": "true"}])
        );
        let bad = answers(&defs(), &|k| {
            Some(match k {
                "seats" => "many".into(),
                "plan" => "c".into(),
                "start" => "2026-02-30".into(),
                _ => String::new(),
            })
        })
        .unwrap_err();
        assert_eq!(bad.len(), 5, "{bad:?}");
        assert!(bad[0].contains("Company is required"));
    }

    #[test]
    fn definitions_must_be_answerable() {
        assert!(check_definitions(&defs()).is_ok());
        let mut six = defs();
        six.as_array_mut()
            .unwrap()
            .push(json!({"key": "x", "label": "X", "field_type": "text"}));
        assert!(check_definitions(&six).is_err());
        assert!(
            check_definitions(&json!([{"key": "d", "label": "D", "field_type": "dropdown"}]))
                .is_err()
        );
        assert!(
            check_definitions(&json!([{"key": "a", "label": "A", "field_type": "text"},
                                      {"key": "a", "label": "B", "field_type": "text"}]))
            .is_err()
        );
    }
}
