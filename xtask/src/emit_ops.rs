//! Prints the operation table of `dodo-types` (feature `operations`): every endpoint with
//! its method, path, group, types and success status, plus body and query validation by
//! operation id. The emulator routes and validates from it.

use std::fmt::Write;

use anyhow::Result;

use crate::emit_types::{HEADER, rust, rust_with};
use crate::schema::{Response, Ty, TypeSet};
use crate::spec::Api;

fn type_name(ty: &Ty) -> String {
    rust(ty)
}

pub fn operations(api: &Api, set: &TypeSet) -> Result<String> {
    let mut out = String::new();
    out.push_str(HEADER);
    out.push_str(
        "//! The operation table: every endpoint of the API with its types.\n//!\n//! Generated. Used by the emulator to route and validate requests.\n\n",
    );
    out.push_str("use serde::de::DeserializeOwned;\n\n");
    out.push_str(
        "/// How an operation's response pages.\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub enum ListKind {\n    /// Not a list.\n    None,\n    /// `{items}` with `page_number`/`page_size`.\n    PageNumber,\n    /// `{data, done, iterator}` with `iterator`/`limit`.\n    Cursor,\n}\n\n",
    );
    out.push_str(
        "/// One endpoint of the API.\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct Operation {\n    /// Upper-case HTTP method.\n    pub method: &'static str,\n    /// Path template such as `/payments/{payment_id}`.\n    pub path: &'static str,\n    /// Resource group such as `Products/LocalizedPrices`.\n    pub group: &'static str,\n    /// Method name on the client's group accessor.\n    pub name: &'static str,\n    /// The spec's operation id (or a derived one for overlay operations without one).\n    pub operation_id: &'static str,\n    /// Request body type name, if the operation takes a body.\n    pub request_body: Option<&'static str>,\n    /// Query struct name, if the operation takes query parameters.\n    pub query: Option<&'static str>,\n    /// Response type name (the item type for lists), `None` for empty or binary answers.\n    pub response: Option<&'static str>,\n    /// Content type of a non-JSON answer (PDF, CSV).\n    pub binary: Option<&'static str>,\n    /// The success status code.\n    pub success_status: u16,\n    /// The status of an answer to a request that fails validation (422, or 400 where the spec\n    /// lists only that).\n    pub invalid_status: u16,\n    /// How the response pages.\n    pub list: ListKind,\n    /// Whether the bearer key is required.\n    pub auth: bool,\n}\n\n",
    );
    out.push_str("/// Every operation, in the order of the spec's endpoint list.\npub static OPERATIONS: &[Operation] = &[\n");
    for (op, types) in api.operations.iter().zip(&set.ops) {
        let opt = |s: Option<String>| match s {
            Some(s) => format!("Some({s:?})"),
            None => "None".to_owned(),
        };
        let (response, list, binary) = match &types.response {
            Response::Json(t) => (Some(type_name(t)), "None", None),
            Response::List(t) => (Some(type_name(t)), "PageNumber", None),
            Response::Cursor(t) => (Some(type_name(t)), "Cursor", None),
            Response::Empty => (None, "None", None),
            Response::Bytes(ct) => (None, "None", Some(ct.clone())),
        };
        writeln!(
            out,
            "    Operation {{ method: {:?}, path: {:?}, group: {:?}, name: {:?}, operation_id: {:?}, request_body: {}, query: {}, response: {}, binary: {}, success_status: {}, invalid_status: {}, list: ListKind::{list}, auth: {} }},",
            op.method,
            op.path,
            op.group,
            op.name,
            op.operation_id(),
            opt(types.body.as_ref().map(type_name)),
            opt(types.query.clone()),
            opt(response),
            opt(binary),
            types.status,
            op.invalid_status(),
            op.needs_auth(),
        )?;
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// Why a request body or query string does not fit the operation's type.\n#[derive(Debug, Clone, PartialEq, Eq)]\npub struct InputError {\n    /// Path of the offending field (`billing.country`), empty when the input as a whole is wrong.\n    pub path: String,\n    /// What is wrong, from the deserialiser.\n    pub message: String,\n}\n\nimpl std::fmt::Display for InputError {\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n        if self.path.is_empty() || self.path == \".\" {\n            f.write_str(&self.message)\n        } else {\n            write!(f, \"{}: {}\", self.path, self.message)\n        }\n    }\n}\n\nimpl std::error::Error for InputError {}\n\n",
    );
    out.push_str(
        "fn body<T: DeserializeOwned + serde::Serialize>(bytes: &[u8]) -> Result<serde_json::Value, InputError> {\n    let mut de = serde_json::Deserializer::from_slice(bytes);\n    // Unknown enum values are refused, as the API refuses them.\n    let value: T = crate::support::strict_enums(|| serde_path_to_error::deserialize(&mut de)).map_err(|e| InputError {\n        path: e.path().to_string(),\n        message: e.inner().to_string(),\n    })?;\n    de.end().map_err(|e| InputError { path: String::new(), message: e.to_string() })?;\n    serde_json::to_value(&value).map_err(|e| InputError { path: String::new(), message: e.to_string() })\n}\n\n",
    );
    out.push_str(
        "fn query<T: DeserializeOwned + serde::Serialize>(text: &str) -> Result<serde_json::Value, InputError> {\n    let value: T = crate::support::strict_enums(|| serde_html_form::from_str(text)).map_err(|e| InputError {\n        path: String::new(),\n        message: e.to_string(),\n    })?;\n    serde_json::to_value(&value).map_err(|e| InputError { path: String::new(), message: e.to_string() })\n}\n\n",
    );
    out.push_str("/// Parses a request body as the operation's body type and returns it as normalised JSON.\n///\n/// Returns `None` when the operation takes no body.\npub fn validate_body(operation_id: &str, bytes: &[u8]) -> Option<Result<serde_json::Value, InputError>> {\n    Some(match operation_id {\n");
    for (op, types) in api.operations.iter().zip(&set.ops) {
        if let Some(b) = &types.body {
            writeln!(
                out,
                "        {:?} => body::<{}>(bytes),",
                op.operation_id(),
                rust_with(b, "crate::models::")
            )?;
        }
    }
    out.push_str("        _ => return None,\n    })\n}\n\n");
    out.push_str("/// Parses a query string as the operation's query type and returns it as JSON.\n///\n/// Returns `None` when the operation takes no query parameters.\npub fn validate_query(operation_id: &str, text: &str) -> Option<Result<serde_json::Value, InputError>> {\n    Some(match operation_id {\n");
    for (op, types) in api.operations.iter().zip(&set.ops) {
        if let Some(q) = &types.query {
            writeln!(
                out,
                "        {:?} => query::<crate::models::{q}>(text),",
                op.operation_id()
            )?;
        }
    }
    out.push_str("        _ => return None,\n    })\n}\n");
    Ok(out)
}
