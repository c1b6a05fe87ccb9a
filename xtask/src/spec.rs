//! Loading the API description: the OpenAPI spec, merged with the in-repo overlay, and the
//! list of endpoints the client exposes with their Rust names.
//!
//! The overlay (`codegen/overlay.json`) adds operations and schemas newer than the spec and
//! patches existing schemas (`schema_patches`: extra properties, extra or dropped required
//! names, extra enum values). `codegen/operations.tsv` names every endpoint; it must cover exactly the rows
//! of the spec folder's `endpoints.tsv`.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use crate::Inputs;

/// One API operation as the client exposes it.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template, e.g. `/payments/{payment_id}`.
    pub path: String,
    /// Resource group path, e.g. `Products/LocalizedPrices`.
    pub group: String,
    /// Rust method name within the group.
    pub name: String,
    /// The operation object from the merged spec.
    pub spec: Value,
}

impl Operation {
    /// The operation id (spec) or a name derived from group and method name.
    pub fn operation_id(&self) -> String {
        self.spec
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}_{}", self.group.replace('/', "_"), self.name))
    }

    /// Whether the operation needs the bearer key (the spec marks it with `security`).
    pub fn needs_auth(&self) -> bool {
        self.spec
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty())
    }

    /// The status a request failing validation gets: 422 where the spec lists it, else 400
    /// where the spec lists that ("Invalid request"), else 422.
    pub fn invalid_status(&self) -> u16 {
        let listed = |code: &str| {
            self.spec
                .get("responses")
                .and_then(|r| r.get(code))
                .is_some()
        };
        if !listed("422") && listed("400") {
            400
        } else {
            422
        }
    }

    /// Parameters of one location (`path` or `query`), in spec order.
    pub fn params(&self, location: &str) -> Vec<&Value> {
        self.spec
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter(|p| p.get("in").and_then(Value::as_str) == Some(location))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Path parameter names in the order they appear in the path template.
    pub fn path_params(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect()
    }
}

/// The merged spec plus the operations, in `endpoints.tsv` order.
pub struct Api {
    /// The merged OpenAPI document.
    pub doc: Value,
    /// Every operation the client exposes.
    pub operations: Vec<Operation>,
}

impl Api {
    /// Loads and merges everything, checking the operation list against `endpoints.tsv`.
    pub fn load(inputs: &Inputs) -> Result<Api> {
        let text = std::fs::read_to_string(&inputs.spec)
            .with_context(|| format!("reading spec {}", inputs.spec.display()))?;
        let mut doc: Value = serde_json::from_str(&text).context("parsing the spec")?;
        if inputs.overlay.exists() {
            let text = std::fs::read_to_string(&inputs.overlay)
                .with_context(|| format!("reading overlay {}", inputs.overlay.display()))?;
            let overlay: Value = serde_json::from_str(&text).context("parsing the overlay")?;
            merge_overlay(&mut doc, &overlay)?;
        }
        let names = read_tsv(&inputs.operations)?;
        let endpoints = read_tsv(&inputs.endpoints)?;
        let wanted: BTreeSet<(String, String)> = endpoints
            .iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        let named: BTreeSet<(String, String)> =
            names.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
        if wanted != named {
            let missing: Vec<_> = wanted.difference(&named).collect();
            let extra: Vec<_> = named.difference(&wanted).collect();
            bail!(
                "codegen/operations.tsv does not match endpoints.tsv: missing {missing:?}, extra {extra:?}"
            );
        }
        let mut operations = Vec::new();
        for row in &names {
            let [method, path, group, name] = &row[..] else {
                bail!("operations.tsv: expected 4 columns in {row:?}");
            };
            let spec = doc
                .pointer(&format!(
                    "/paths/{}/{}",
                    path.replace('~', "~0").replace('/', "~1"),
                    method.to_lowercase()
                ))
                .cloned()
                .with_context(|| {
                    format!("{method} {path} is in endpoints.tsv but neither in the spec nor the overlay")
                })?;
            operations.push(Operation {
                method: method.clone(),
                path: path.clone(),
                group: group.clone(),
                name: name.clone(),
                spec,
            });
        }
        Ok(Api { doc, operations })
    }

    /// The component schema of that name.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.doc.pointer(&format!("/components/schemas/{name}"))
    }
}

/// Reads a tab-separated file, skipping `#` comments and the header row.
fn read_tsv(path: &std::path::Path) -> Result<Vec<Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect())
}

/// Applies the overlay: new operations, new schemas, patches to existing schemas.
fn merge_overlay(doc: &mut Value, overlay: &Value) -> Result<()> {
    if let Some(paths) = overlay.get("paths").and_then(Value::as_object) {
        let doc_paths = object_at(doc, "paths")?;
        for (path, ops) in paths {
            let entry = doc_paths
                .entry(path.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let entry = entry
                .as_object_mut()
                .with_context(|| format!("spec path {path} is not an object"))?;
            for (method, op) in ops.as_object().context("overlay path is not an object")? {
                if entry.contains_key(method) {
                    bail!("overlay repeats {method} {path}, which the spec already has");
                }
                entry.insert(method.clone(), op.clone());
            }
        }
    }
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .context("spec has no components.schemas")?;
    if let Some(new) = overlay
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in new {
            if schemas.contains_key(name) {
                bail!("overlay schema {name} collides with a spec schema");
            }
            schemas.insert(name.clone(), schema.clone());
        }
    }
    if let Some(patches) = overlay.get("schema_patches").and_then(Value::as_object) {
        for (name, patch) in patches {
            let target = schemas
                .get_mut(name)
                .and_then(Value::as_object_mut)
                .with_context(|| format!("schema_patches: no schema {name}"))?;
            if let Some(props) = patch.get("properties").and_then(Value::as_object) {
                let tprops = target
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .context("properties is not an object")?;
                for (k, v) in props {
                    tprops.insert(k.clone(), v.clone());
                }
            }
            if let Some(req) = patch.get("required").and_then(Value::as_array) {
                let treq = target
                    .entry("required")
                    .or_insert_with(|| Value::Array(vec![]))
                    .as_array_mut()
                    .context("required is not an array")?;
                for r in req {
                    if !treq.contains(r) {
                        treq.push(r.clone());
                    }
                }
            }
            if let Some(drop) = patch.get("required_remove").and_then(Value::as_array)
                && let Some(treq) = target.get_mut("required").and_then(Value::as_array_mut)
            {
                treq.retain(|r| !drop.contains(r));
            }
            if let Some(values) = patch.get("enum_append").and_then(Value::as_array) {
                let tenum = target
                    .get_mut("enum")
                    .and_then(Value::as_array_mut)
                    .with_context(|| format!("schema_patches: {name} is not an enum"))?;
                for v in values {
                    if !tenum.contains(v) {
                        tenum.push(v.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

fn object_at<'a>(doc: &'a mut Value, key: &str) -> Result<&'a mut Map<String, Value>> {
    doc.get_mut(key)
        .and_then(Value::as_object_mut)
        .with_context(|| format!("spec has no {key} object"))
}
