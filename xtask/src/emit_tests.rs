//! Prints one request-shape test per endpoint for `dodo-client`.
//!
//! Each test calls the generated method against a local recording server and asserts the
//! method, the encoded path, the exact query string (computed here independently from the
//! sample values, with every query parameter set), the JSON body, and that the server's
//! sample answer decodes to the expected value.

use std::fmt::Write;

use anyhow::Result;
use serde_json::{Map, Value, json};

use crate::emit_types::{HEADER, rust_with};
use crate::names::snake;
use crate::schema::{Kind, Response, Ty, TypeSet};
use crate::spec::Api;

/// A JSON sample of a type: required fields only, or every field when `all` is set.
fn sample(set: &TypeSet, ty: &Ty, all: bool, depth: usize) -> Value {
    match ty {
        Ty::Str => json!("x"),
        Ty::Bool => json!(true),
        Ty::Int => json!(1),
        Ty::Float => json!(1.5),
        Ty::DateTime => json!("2025-01-02T03:04:05Z"),
        Ty::Decimal => json!("1.25"),
        Ty::Json => json!({}),
        Ty::Metadata => json!({"k": "v"}),
        Ty::Vec(t) => {
            if depth > 6 {
                json!([])
            } else {
                json!([sample(set, t, all, depth + 1)])
            }
        }
        Ty::Map(t) => json!({"k": sample(set, t, all, depth + 1)}),
        Ty::Opt(t) | Ty::Boxed(t) => sample(set, t, all, depth),
        Ty::Named(n) => {
            let Some(def) = set.defs.get(n) else {
                return Value::Null;
            };
            match &def.kind {
                Kind::Enum(values) => json!(values.first().cloned().unwrap_or_default()),
                Kind::Alias(t) => sample(set, t, all, depth),
                Kind::Struct(fields) => {
                    let mut m = Map::new();
                    for f in fields {
                        if (!f.optional || all) && depth < 8 {
                            m.insert(f.wire.clone(), sample(set, &f.ty, false, depth + 1));
                        }
                    }
                    Value::Object(m)
                }
                Kind::Tagged { tag, variants } => {
                    let Some(v) = variants.first() else {
                        return json!({});
                    };
                    let mut value =
                        v.ty.as_ref()
                            .map(|t| sample(set, t, all, depth + 1))
                            .unwrap_or_else(|| json!({}));
                    if let Value::Object(m) = &mut value {
                        m.insert(tag.clone(), json!(v.tag_value));
                    }
                    value
                }
                Kind::Untagged(vs) => vs
                    .first()
                    .map(|(_, t)| sample(set, t, all, depth + 1))
                    .unwrap_or(Value::Null),
            }
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value, as `serde_urlencoded` does it.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => write!(out, "%{b:02X}").unwrap_or_default(),
        }
    }
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The expected query string for a sample query object, in field order.
fn expected_query(sample: &Value) -> String {
    let mut parts = Vec::new();
    if let Value::Object(m) = sample {
        for (k, v) in m {
            match v {
                Value::Array(items) => {
                    for item in items {
                        parts.push(format!(
                            "{}={}",
                            form_encode(k),
                            form_encode(&scalar_text(item))
                        ));
                    }
                }
                other => parts.push(format!(
                    "{}={}",
                    form_encode(k),
                    form_encode(&scalar_text(other))
                )),
            }
        }
    }
    parts.join("&")
}

fn raw_literal(v: &Value) -> String {
    format!("r#\"{v}\"#")
}

pub fn request_tests(api: &Api, set: &TypeSet) -> Result<String> {
    let mut out = String::new();
    out.push_str(HEADER);
    out.push_str("//! One request-shape test per endpoint, against a local recording server.\n\n");
    out.push_str("#![cfg(feature = \"full\")]\n#![allow(clippy::all, deprecated)]\n\nmod common;\n\nuse common::recorder::Recorder;\nuse dodo_client::types;\n\n");
    for (op, types) in api.operations.iter().zip(&set.ops) {
        let test = format!("{}_{}", snake(&op.group.replace('/', "_")), op.name);
        writeln!(out, "#[tokio::test]\nasync fn {test}() {{")?;
        let (status, answer, expect) = match &types.response {
            Response::Json(t) => {
                let s = sample(set, t, false, 0);
                (
                    types.status,
                    Some(s.to_string()),
                    Some((rust_with(t, "types::"), s)),
                )
            }
            Response::List(t) => {
                let s = sample(set, t, false, 0);
                (
                    types.status,
                    Some(json!({"items": [s.clone()]}).to_string()),
                    Some((format!("Vec<{}>", rust_with(t, "types::")), json!([s]))),
                )
            }
            Response::Cursor(t) => {
                let s = sample(set, t, false, 0);
                (
                    types.status,
                    Some(
                        json!({"data": [s.clone()], "done": true, "iterator": null, "prev_iterator": null})
                            .to_string(),
                    ),
                    Some((format!("Vec<{}>", rust_with(t, "types::")), json!([s]))),
                )
            }
            Response::Empty => (types.status, None, None),
            Response::Bytes(_) => (types.status, Some("%PDF-bytes".to_owned()), None),
        };
        match &answer {
            Some(body) if matches!(types.response, Response::Bytes(_)) => writeln!(
                out,
                "    let server = Recorder::start({status}, {:?}.as_bytes().to_vec()).await;",
                body
            )?,
            Some(body) => writeln!(
                out,
                "    let server = Recorder::start({status}, {}.as_bytes().to_vec()).await;",
                raw_literal(&serde_json::from_str::<Value>(body)?)
            )?,
            None => writeln!(
                out,
                "    let server = Recorder::start({status}, Vec::new()).await;"
            )?,
        }
        out.push_str("    let client = server.client();\n");
        let mut args = Vec::new();
        let mut expected_path = String::new();
        for seg in op.path.split('/').skip(1) {
            expected_path.push('/');
            if let Some(p) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let value = format!("v_{p}");
                expected_path.push_str(&value);
                args.push(format!("{value:?}"));
            } else {
                expected_path.push_str(seg);
            }
        }
        let mut expected_query_text = String::new();
        if let Some(q) = &types.query {
            let s = sample(set, &Ty::Named(q.clone()), true, 0);
            expected_query_text = expected_query(&s);
            writeln!(
                out,
                "    let query: types::{q} = serde_json::from_str({}).expect(\"sample query\");",
                raw_literal(&s)
            )?;
            args.push("&query".into());
        }
        if let Some(b) = &types.body {
            let s = sample(set, b, true, 0);
            writeln!(
                out,
                "    let body: {} = serde_json::from_str({}).expect(\"sample body\");",
                rust_with(b, "types::"),
                raw_literal(&s)
            )?;
            args.push("&body".into());
        }
        let mut chain = String::new();
        for seg in op.group.split('/') {
            write!(chain, ".{}()", snake(seg))?;
        }
        let call = format!("client{chain}.{}({})", op.name, args.join(", "));
        match (&types.response, &expect) {
            (Response::List(_), Some((ty, s))) | (Response::Cursor(_), Some((ty, s))) => {
                writeln!(
                    out,
                    "    let page = {call}.await.expect(\"call succeeds\");\n    let expected: {ty} = serde_json::from_str({}).expect(\"sample answer\");\n    assert_eq!(page.items, expected);",
                    raw_literal(s)
                )?;
            }
            (_, Some((ty, s))) => {
                writeln!(
                    out,
                    "    let value = {call}.await.expect(\"call succeeds\");\n    let expected: {ty} = serde_json::from_str({}).expect(\"sample answer\");\n    assert_eq!(value, expected);",
                    raw_literal(s)
                )?;
            }
            (Response::Bytes(_), None) => {
                writeln!(
                    out,
                    "    let value = {call}.await.expect(\"call succeeds\");\n    assert_eq!(&value[..], b\"%PDF-bytes\");"
                )?;
            }
            _ => {
                writeln!(out, "    {call}.await.expect(\"call succeeds\");")?;
            }
        }
        writeln!(
            out,
            "    let request = server.single_request();\n    assert_eq!(request.method, {:?});\n    assert_eq!(request.path, {:?});\n    assert_eq!(request.query, {:?});",
            op.method, expected_path, expected_query_text
        )?;
        if types.body.is_some() {
            out.push_str("    assert_eq!(request.json(), serde_json::to_value(&body).expect(\"body as JSON\"));\n");
        } else {
            out.push_str("    assert!(request.body.is_empty(), \"no body expected\");\n");
        }
        if op.needs_auth() {
            out.push_str("    assert_eq!(request.header(\"authorization\").as_deref(), Some(\"Bearer test-key\"));\n");
        }
        out.push_str("}\n\n");
    }
    Ok(out)
}
