//! Prints the typed methods of `dodo-client`: one accessor per resource group on `Client`,
//! one method per endpoint, each building a pure request value for the hand-written runtime.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::emit_types::{HEADER, rust_with};
use crate::names::{doc, field_ident, pascal, snake};
use crate::schema::{OpTypes, Response, TypeSet};
use crate::spec::{Api, Operation};

const RESOURCES_DIR: &str = "crates/dodo-client/src/generated/resources";

/// Operations the API documents as deduplicated by their own content, so the client may
/// retry them after an ambiguous failure. `POST /events/ingest`: "Subsequent requests with
/// existing `event_id` values are ignored (idempotent behavior)" (the spec's description).
const DEDUPLICATED_BY_SERVER: &[(&str, &str)] = &[("POST", "/events/ingest")];

/// A resource group and its sub-groups.
#[derive(Default)]
struct Node<'a> {
    ops: Vec<(&'a Operation, &'a OpTypes)>,
    children: BTreeMap<String, Node<'a>>,
}

fn struct_name(path: &[String]) -> String {
    path.iter().map(|s| pascal(s)).collect()
}

pub fn resources(api: &Api, set: &TypeSet) -> Result<Vec<(String, String)>> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for (op, types) in api.operations.iter().zip(&set.ops) {
        let mut segs = op.group.split('/');
        let top = segs.next().unwrap_or_default().to_owned();
        let mut node = root.entry(top).or_default();
        for seg in segs {
            node = node.children.entry(seg.to_owned()).or_default();
        }
        node.ops.push((op, types));
    }
    let mut files = Vec::new();
    let mut module = String::new();
    module.push_str(HEADER);
    module.push_str("//! Typed methods for every endpoint, one accessor per resource group.\n//!\n//! Generated: each method only builds a request value; the runtime does the rest.\n\n");
    let mut accessors = String::new();
    for (top, node) in &root {
        let file = snake(top);
        let cfg = format!(
            "#[cfg(feature = {:?})]",
            crate::features::group_feature(top)
        );
        writeln!(module, "{cfg}\nmod {file};\n{cfg}\npub use {file}::*;")?;
        let name = struct_name(std::slice::from_ref(top));
        writeln!(
            accessors,
            "    /// The `{top}` endpoints.\n    {cfg}\n    pub fn {file}(&self) -> {name}<'_> {{\n        {name} {{ client: self }}\n    }}\n"
        )?;
        let mut body = String::new();
        body.push_str(HEADER);
        writeln!(body, "//! The `{top}` resource group.\n")?;
        body.push_str("#![allow(unused_imports)]\n\nuse crate::path::PathPart::{Lit, Param};\nuse crate::request::RequestSpec;\nuse crate::{Call, Client, CursorListCall, ListCall};\nuse dodo_types as types;\nuse http::Method;\n\n");
        emit_node(&mut body, std::slice::from_ref(top), node)?;
        files.push((format!("{RESOURCES_DIR}/{file}.rs"), body));
    }
    writeln!(module, "\nimpl crate::Client {{\n{accessors}}}")?;
    files.push((format!("{RESOURCES_DIR}/mod.rs"), module));
    Ok(files)
}

fn emit_node(out: &mut String, path: &[String], node: &Node) -> Result<()> {
    let name = struct_name(path);
    writeln!(
        out,
        "/// The `{}` endpoints; get it from the client.\n#[derive(Debug, Clone, Copy)]\npub struct {name}<'a> {{\n    pub(crate) client: &'a Client,\n}}\n",
        path.join("/")
    )?;
    writeln!(out, "impl<'a> {name}<'a> {{")?;
    for child in node.children.keys() {
        let mut cpath = path.to_vec();
        cpath.push(child.clone());
        let cname = struct_name(&cpath);
        writeln!(
            out,
            "    /// The `{}` endpoints.\n    pub fn {}(&self) -> {cname}<'a> {{\n        {cname} {{ client: self.client }}\n    }}\n",
            cpath.join("/"),
            snake(child)
        )?;
    }
    for (op, types) in &node.ops {
        emit_method(out, op, types)?;
    }
    out.push_str("}\n\n");
    for (child, cnode) in &node.children {
        let mut cpath = path.to_vec();
        cpath.push(child.clone());
        emit_node(out, &cpath, cnode)?;
    }
    Ok(())
}

fn emit_method(out: &mut String, op: &Operation, types: &OpTypes) -> Result<()> {
    let text = |k: &str| {
        op.spec
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let (summary, description) = (text("summary"), text("description"));
    let mut docs = String::new();
    if !summary.is_empty() {
        docs.push_str(&doc(&summary, "    "));
    }
    if !description.is_empty() && description != summary {
        if !docs.is_empty() {
            docs.push_str("    ///\n");
        }
        docs.push_str(&doc(&description, "    "));
    }
    if !docs.is_empty() {
        docs.push_str("    ///\n");
    }
    out.push_str(&docs);
    writeln!(out, "    /// `{} {}`", op.method, op.path)?;
    if op.spec.get("deprecated").and_then(Value::as_bool) == Some(true) {
        out.push_str("    ///\n    /// Deprecated by the API.\n");
        writeln!(
            out,
            "    #[deprecated(note = \"the Dodo Payments API marks `{} {}` as deprecated\")]",
            op.method, op.path
        )?;
    }
    let mut args = vec!["&self".to_owned()];
    for p in op.path_params() {
        args.push(format!("{}: &str", field_ident(&p)));
    }
    if let Some(q) = &types.query {
        args.push(format!("query: &types::{q}"));
    }
    if let Some(b) = &types.body {
        args.push(format!("body: &{}", rust_with(b, "types::")));
    }
    let mut parts = Vec::new();
    let mut lit = String::new();
    for seg in op.path.split('/').skip(1) {
        lit.push('/');
        if let Some(p) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            parts.push(format!("Lit({lit:?})"));
            lit.clear();
            parts.push(format!("Param({})", field_ident(p)));
        } else {
            lit.push_str(seg);
        }
    }
    if !lit.is_empty() {
        parts.push(format!("Lit({lit:?})"));
    }
    let mut spec = format!(
        "RequestSpec::new(Method::{}, crate::path::build(&[{}]))",
        op.method,
        parts.join(", ")
    );
    if types.query.is_some() {
        spec.push_str(".query(query)");
    }
    if types.body.is_some() {
        spec.push_str(".json(body)");
    }
    if types.body_idempotency_field {
        spec.push_str(".body_idempotency_field()");
    }
    if DEDUPLICATED_BY_SERVER.contains(&(op.method.as_str(), op.path.as_str())) {
        spec.push_str(".deduplicated_by_server()");
    }
    let (ret, call) = match &types.response {
        Response::Json(t) => (
            format!("Call<{}>", rust_with(t, "types::")),
            format!("Call::json(self.client, {spec})"),
        ),
        Response::List(t) => (
            format!("ListCall<{}>", rust_with(t, "types::")),
            format!("ListCall::new(self.client, {spec})"),
        ),
        Response::Cursor(t) => (
            format!("CursorListCall<{}>", rust_with(t, "types::")),
            format!("CursorListCall::new(self.client, {spec})"),
        ),
        Response::Empty => (
            "Call<()>".to_owned(),
            format!("Call::empty(self.client, {spec})"),
        ),
        Response::Bytes(ct) => (
            "Call<bytes::Bytes>".to_owned(),
            format!("Call::bytes(self.client, {spec}, {ct:?})"),
        ),
    };
    writeln!(
        out,
        "    pub fn {}({}) -> {ret} {{\n        {call}\n    }}\n",
        op.name,
        args.join(", ")
    )?;
    Ok(())
}

fn resource_files(root: &Path) -> Result<Vec<String>> {
    let dir = root.join(RESOURCES_DIR);
    let mut out = Vec::new();
    if dir.exists() {
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            out.push(format!("{RESOURCES_DIR}/{name}"));
        }
    }
    Ok(out)
}

/// Files in the generated resources folder that generation would not write.
pub fn stale_extra_files(root: &Path, files: &[(String, String)]) -> Result<Vec<String>> {
    Ok(resource_files(root)?
        .into_iter()
        .filter(|f| !files.iter().any(|(p, _)| p == f))
        .collect())
}

/// Removes files of the generated resources folder that generation no longer writes.
pub fn remove_extra_files(root: &Path, files: &[(String, String)]) -> Result<()> {
    for f in stale_extra_files(root, files)? {
        std::fs::remove_file(root.join(f))?;
    }
    Ok(())
}
