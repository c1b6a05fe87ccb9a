//! The spec the crawler judges by: `../shared/dodo-openapi/openapi.json` merged with the
//! in-repo `codegen/overlay.json` (its paths, its component schemas and its schema patches,
//! exactly as `cargo xtask codegen` reads them), and JSON Schema validators compiled from it.
//!
//! OpenAPI 3.1 schemas are JSON Schema 2020-12; a validator is compiled from a root document
//! that embeds the spec's `components`, so `#/components/schemas/...` references resolve
//! inside it. Formats (`date-time`, `email`, `uri`, …) are checked.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

/// The merged spec.
pub struct Spec {
    doc: Value,
    validators: std::sync::Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

fn read(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

impl Spec {
    /// Loads and merges the spec and the overlay.
    pub fn load() -> Self {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut doc = read(manifest.join("../../../shared/dodo-openapi/openapi.json"));
        let overlay = read(manifest.join("../../codegen/overlay.json"));
        merge_overlay(&mut doc, &overlay);
        let schemas = doc["components"]["schemas"].clone();
        loosen_ambiguous_one_of(&mut doc["components"], &schemas);
        Self {
            doc,
            validators: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The operation object of `method path`.
    pub fn operation(&self, method: &str, path: &str) -> Option<&Value> {
        self.doc["paths"][path].get(method.to_ascii_lowercase())
    }

    /// Follows `$ref`s to the schema they name.
    pub fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..16 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix("#/components/schemas/") {
                    Some(name) => schema = &self.doc["components"]["schemas"][name],
                    None => return schema,
                },
                None => return schema,
            }
        }
        schema
    }

    /// A validator of `schema` (any schema of the spec, usually a `$ref`).
    pub fn validator(
        &self,
        schema: &Value,
    ) -> Result<std::sync::Arc<jsonschema::Validator>, String> {
        let key = schema.to_string();
        let mut cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        let mut root = Map::new();
        root.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("components".into(), self.doc["components"].clone());
        // `allOf` keeps the operation's schema intact beside the embedded components.
        root.insert("allOf".into(), json!([schema]));
        let v = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .map_err(|e| format!("the spec's schema does not compile: {e}"))?;
        let v = std::sync::Arc::new(v);
        cache.insert(key, v.clone());
        Ok(v)
    }

    /// Validates `instance` against `schema`; the error lists every failure with its location.
    pub fn check(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let v = self.validator(schema)?;
        let errors: Vec<String> = v
            .iter_errors(instance)
            .take(5)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Applies the overlay: new paths (and new methods of existing paths), new component schemas,
/// and `schema_patches` (`properties` added, `required_remove`, `enum_append`).
fn merge_overlay(doc: &mut Value, overlay: &Value) {
    if let Some(paths) = overlay["paths"].as_object() {
        for (path, methods) in paths {
            let entry = doc["paths"]
                .as_object_mut()
                .expect("spec has paths")
                .entry(path.clone())
                .or_insert_with(|| json!({}));
            if let (Some(target), Some(methods)) = (entry.as_object_mut(), methods.as_object()) {
                for (m, op) in methods {
                    target.insert(m.clone(), op.clone());
                }
            }
        }
    }
    if let Some(schemas) = overlay["components"]["schemas"].as_object() {
        let target = doc["components"]["schemas"]
            .as_object_mut()
            .expect("spec has component schemas");
        for (name, s) in schemas {
            target.insert(name.clone(), s.clone());
        }
    }
    if let Some(patches) = overlay["schema_patches"].as_object() {
        for (name, patch) in patches {
            let schema = &mut doc["components"]["schemas"][name];
            if let Some(props) = patch["properties"].as_object() {
                if schema.get("properties").is_none() {
                    schema["properties"] = json!({});
                }
                for (k, v) in props {
                    schema["properties"][k] = v.clone();
                }
            }
            if let Some(remove) = patch["required_remove"].as_array()
                && let Some(req) = schema.get_mut("required").and_then(Value::as_array_mut)
            {
                req.retain(|r| !remove.contains(r));
            }
            if let Some(add) = patch["enum_append"].as_array()
                && let Some(e) = schema.get_mut("enum").and_then(Value::as_array_mut)
            {
                e.extend(add.iter().cloned());
            }
        }
    }
}

/// Whether a schema accepts every JSON object (an object schema with no `required` and no
/// `additionalProperties: false`).
fn accepts_any_object(schema: &Value, schemas: &Value) -> bool {
    let mut s = schema;
    for _ in 0..8 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => s = &schemas[r.trim_start_matches("#/components/schemas/")],
            None => break,
        }
    }
    let is_object =
        s["type"] == "object" || (s.get("type").is_none() && s.get("properties").is_some());
    is_object
        && s["required"].as_array().is_none_or(Vec::is_empty)
        && s["additionalProperties"] != false
        && s.get("oneOf").is_none()
        && s.get("anyOf").is_none()
}

/// Whether a schema accepts objects at all.
fn accepts_objects(schema: &Value, schemas: &Value) -> bool {
    let mut s = schema;
    for _ in 0..8 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => s = &schemas[r.trim_start_matches("#/components/schemas/")],
            None => break,
        }
    }
    s["type"] == "object" || s.get("properties").is_some()
}

/// A `oneOf` with a branch that accepts every object can never hold for an object that also
/// matches another object branch: the spec's `IntegrationConfig` (whose license-key branch
/// requires nothing) is such a case, so every valid files or feature-flag config would fail
/// it. Such a `oneOf` is read as the `anyOf` it means; every other `oneOf` stays strict.
fn loosen_ambiguous_one_of(node: &mut Value, schemas: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Array(branches)) = map.get("oneOf") {
                let objects = branches
                    .iter()
                    .filter(|b| accepts_objects(b, schemas))
                    .count();
                if objects >= 2
                    && branches.iter().any(|b| accepts_any_object(b, schemas))
                    && let Some(b) = map.remove("oneOf")
                {
                    map.insert("anyOf".into(), b);
                }
            }
            for v in map.values_mut() {
                loosen_ambiguous_one_of(v, schemas);
            }
        }
        Value::Array(items) => {
            for v in items {
                loosen_ambiguous_one_of(v, schemas);
            }
        }
        _ => {}
    }
}
