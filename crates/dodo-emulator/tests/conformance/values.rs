//! Spec-valid values built from the spec's schemas: required properties only, the first
//! enum value (or a preferred one: `USD`, `US`, `saas`, …), strings in their `format`,
//! numbers at their minimum, one item per array, the first non-null branch of a
//! `oneOf`/`anyOf`. Properties that name an object the crawl created (`product_id`,
//! `customer_id`, …) take that object's id from [`Ids`].

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::spec::Spec;

/// Ids of the objects the crawl has created or found, by role (`product`, `customer`, …).
#[derive(Debug, Default)]
pub struct Ids(pub HashMap<String, String>);

impl Ids {
    /// The id of a role.
    pub fn get(&self, role: &str) -> Option<&str> {
        self.0.get(role).map(String::as_str)
    }

    /// Records an id unless the role already has one (the first object of a role is kept, so
    /// objects set up on purpose — a settled payment — win over later ones).
    pub fn offer(&mut self, role: &str, id: &str) {
        if !id.is_empty() {
            self.0
                .entry(role.to_string())
                .or_insert_with(|| id.to_string());
        }
    }

    /// Records an id, replacing any earlier one.
    pub fn set(&mut self, role: &str, id: &str) {
        self.0.insert(role.to_string(), id.to_string());
    }
}

/// Body properties whose value is the id of an object of a role.
pub const ID_FIELDS: &[(&str, &str)] = &[
    ("product_id", "product"),
    ("customer_id", "customer"),
    ("payment_id", "payment"),
    ("subscription_id", "subscription"),
    ("discount_id", "discount"),
    ("refund_id", "refund"),
    ("dispute_id", "dispute"),
    ("payout_id", "payout"),
    ("brand_id", "brand"),
    ("meter_id", "meter"),
    ("addon_id", "addon"),
    ("license_key_id", "license_key"),
    ("license_key_instance_id", "license_key_instance"),
    ("credit_entitlement_id", "credit_entitlement"),
    ("entitlement_id", "entitlement"),
    ("payment_method_id", "payment_method"),
    ("session_id", "checkout"),
    ("entitlement_grant_id", "entitlement_grant"),
];

const PREFERRED: &[&str] = &[
    "USD",
    "US",
    "saas",
    "percentage",
    "one_time_price",
    "Month",
    "prorated_immediately",
    "immediately",
    "count",
];

/// Whether optional properties are filled too (`DODO_CONFORMANCE_FULL=1`, an exploratory run:
/// made-up optional values such as a discount code may be refused for good reasons).
pub fn full() -> bool {
    std::env::var_os("DODO_CONFORMANCE_FULL").is_some()
}

/// Parts of property names whose string values are decimal numbers.
const DECIMAL_HINTS: &[&str] = &[
    "amount",
    "price",
    "credits",
    "balance",
    "threshold",
    "units",
];

/// Builds a value of `schema`; `name` is the property it fills (a hint for ids and emails).
pub fn build(spec: &Spec, schema: &Value, name: &str, ids: &Ids, depth: u32) -> Value {
    let schema = spec.resolve(schema);
    if depth > 12 {
        return Value::Null;
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        let non_null: Vec<&Value> = e.iter().filter(|v| !v.is_null()).collect();
        return PREFERRED
            .iter()
            .find_map(|p| non_null.iter().find(|v| v.as_str() == Some(p)))
            .or(non_null.first())
            .map(|v| (*v).clone())
            .unwrap_or(Value::Null);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let branch = branches
                .iter()
                .find(|b| spec.resolve(b).get("type") != Some(&json!("null")))
                .unwrap_or(&Value::Null);
            return build(spec, branch, name, ids, depth + 1);
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let mut out = Map::new();
        for b in all {
            match build(spec, b, name, ids, depth + 1) {
                Value::Object(o) => out.extend(o),
                other if all.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(out);
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "object",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for prop in required {
                let sub = &schema["properties"][prop];
                out.insert(prop.to_string(), build(spec, sub, prop, ids, depth + 1));
            }
            if full()
                && let Some(props) = schema["properties"].as_object()
            {
                for (prop, sub) in props {
                    if !out.contains_key(prop) {
                        let v = build(spec, sub, prop, ids, depth + 1);
                        if !v.is_null() {
                            out.insert(prop.clone(), v);
                        }
                    }
                }
            }
            Value::Object(out)
        }
        "array" => {
            let item = build(spec, &schema["items"], name, ids, depth + 1);
            json!([item])
        }
        "string" => string(schema, name, ids),
        "integer" => {
            let min = schema["minimum"].as_i64().unwrap_or(1).max(1);
            let max = schema["maximum"].as_i64().unwrap_or(i64::MAX);
            let want = if name.contains("price") || name.contains("amount") {
                1000
            } else {
                min
            };
            json!(want.clamp(min, max.max(min)))
        }
        "number" => json!(schema["minimum"].as_f64().unwrap_or(1.0).max(1.0)),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

fn string(schema: &Value, name: &str, ids: &Ids) -> Value {
    if let Some((_, role)) = ID_FIELDS.iter().find(|(f, _)| *f == name)
        && let Some(id) = ids.get(role)
    {
        return json!(id);
    }
    let min = schema["minLength"].as_u64().unwrap_or(0);
    let s = match schema["format"].as_str() {
        Some("date-time") => "2031-01-01T00:00:00Z".to_string(),
        Some("date") => "2031-01-01".to_string(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_string(),
        Some("email") => "crawler@example.com".to_string(),
        Some("uri") | Some("url") => "https://example.com/crawler".to_string(),
        _ if name == "email" => "crawler@example.com".to_string(),
        _ if name.ends_with("url") => "https://example.com/crawler".to_string(),
        // Decimal amounts travel as strings (`"10.50"`).
        _ if DECIMAL_HINTS.iter().any(|h| name.contains(h)) => "10".to_string(),
        // A slug, key or code: no spaces.
        _ => format!("crawler-{}", name.replace('_', "-")),
    };
    let mut s = s;
    while (s.len() as u64) < min {
        s.push('x');
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        s.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    }
    json!(s)
}
