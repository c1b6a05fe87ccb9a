//! The operation table: which API operations exist and how a request path finds one.
//!
//! The table is data, not code: one [`Operation`] row per endpoint (method, path template,
//! group, schema names, success status, list kind, auth), generated from the spec and the
//! overlay into `dodo_types::operations`. [`OperationTable`] compiles
//! the rows into one `matchit` router per HTTP method, so every spec operation is routed by
//! the same generic dispatcher. Path parameters are matched positionally, so templates that
//! name the same segment differently (`/products/{id}` and `/products/{product_id}/...`) do
//! not conflict.

use std::collections::HashMap;

pub use dodo_types::operations::{ListKind, OPERATIONS, Operation};

/// Names of an operation's path parameters, in order (`["product_id", "id"]`).
pub fn param_names(op: &Operation) -> impl Iterator<Item = &'static str> {
    op.path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// The spec's operations: the table generated into `dodo_types::operations`.
pub fn spec_operations() -> &'static [Operation] {
    OPERATIONS
}

/// Error building an [`OperationTable`].
#[derive(Debug, thiserror::Error)]
#[error("cannot route {method} {path}: {source}")]
pub struct TableError {
    method: String,
    path: String,
    #[source]
    source: matchit::InsertError,
}

/// A matched operation with its path parameters (percent-decoded, in template order).
#[derive(Debug, Clone)]
pub struct Matched {
    /// The operation.
    pub op: &'static Operation,
    /// `(name, value)` for each path parameter.
    pub params: Vec<(&'static str, String)>,
}

/// Routes `(method, path)` to an [`Operation`].
#[derive(Debug)]
pub struct OperationTable {
    ops: &'static [Operation],
    routers: HashMap<&'static str, matchit::Router<usize>>,
}

impl OperationTable {
    /// Compiles a table from operation rows.
    pub fn new(ops: &'static [Operation]) -> Result<Self, TableError> {
        let mut routers: HashMap<&'static str, matchit::Router<usize>> = HashMap::new();
        for (index, op) in ops.iter().enumerate() {
            let template = positional_template(op.path);
            routers
                .entry(op.method)
                .or_default()
                .insert(template, index)
                .map_err(|source| TableError {
                    method: op.method.to_string(),
                    path: op.path.to_string(),
                    source,
                })?;
        }
        Ok(Self { ops, routers })
    }

    /// The table of the spec's operations.
    pub fn spec() -> Result<Self, TableError> {
        Self::new(spec_operations())
    }

    /// All operations of the table.
    pub fn operations(&self) -> &'static [Operation] {
        self.ops
    }

    /// Finds the operation for a method and a request path (without query string).
    pub fn lookup(&self, method: &str, path: &str) -> Option<Matched> {
        let router = self.routers.get(method)?;
        let found = router.at(path).ok()?;
        let op = self.ops.get(*found.value)?;
        let params = param_names(op)
            .zip(found.params.iter())
            .map(|(name, (_, raw))| (name, percent_decode(raw)))
            .collect();
        Some(Matched { op, params })
    }
}

/// Rewrites `{name}` parameters to `{p0}`, `{p1}`, ... so differently named siblings share a node.
fn positional_template(path: &str) -> String {
    let mut index = 0;
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                let s = format!("{{p{index}}}");
                index += 1;
                s
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Decodes `%XX` escapes in a path segment; invalid escapes are kept as they are.
fn percent_decode(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_string();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table_compiles_and_routes_every_row() {
        let table = OperationTable::spec().unwrap();
        for op in table.operations() {
            let concrete = op
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "x_1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let m = table.lookup(op.method, &concrete).unwrap();
            assert_eq!(m.op.path, op.path, "{} {}", op.method, concrete);
        }
    }

    #[test]
    fn static_segments_win_over_parameters() {
        let table = OperationTable::spec().unwrap();
        let m = table.lookup("GET", "/products/short_links").unwrap();
        assert_eq!(m.op.path, "/products/short_links");
        let m = table.lookup("GET", "/discounts/code/SAVE10").unwrap();
        assert_eq!(m.params, vec![("code", "SAVE10".to_string())]);
    }

    #[test]
    fn params_are_named_and_decoded() {
        let table = OperationTable::spec().unwrap();
        let m = table
            .lookup("GET", "/products/pdt_1/localized-prices/lp%5F2")
            .unwrap();
        assert_eq!(
            m.params,
            vec![
                ("product_id", "pdt_1".to_string()),
                ("id", "lp_2".to_string())
            ]
        );
        assert!(table.lookup("GET", "/nope").is_none());
        assert!(table.lookup("TRACE", "/payments").is_none());
    }

    #[test]
    fn percent_decode_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
        assert_eq!(percent_decode("a%20b"), "a b");
    }
}
