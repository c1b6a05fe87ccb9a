//! From OpenAPI schemas to a small type model the emitters print as Rust.
//!
//! Every named schema becomes a [`TypeDef`]; inline objects, enums and unions get names from
//! where they appear (`PaymentResponseProductCartItem`). Inline string enums whose values equal
//! a named enum reuse it (the spec repeats `Currency` inline in many query parameters).
//! Nullable means `Option`. Fields reached directly through themselves are boxed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use crate::names::{field_ident, pascal};
use crate::spec::{Api, Operation};

/// String fields that carry exact decimal numbers (dodo-api.md §6).
const DECIMAL_FIELDS: &[&str] = &[
    "amount",
    "available_balance",
    "balance",
    "balance_after",
    "balance_before",
    "chargeable_units",
    "consumed_units",
    "credits_amount",
    "initial_amount",
    "overage",
    "overage_after",
    "overage_balance",
    "overage_before",
    "overage_limit",
    "price_per_unit",
    "remaining_amount",
    "remaining_balance",
    "subscription_credits_amount",
    "threshold_amount",
];

/// A Rust type expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Named(String),
    Str,
    Bool,
    Int,
    Float,
    DateTime,
    Decimal,
    Json,
    Metadata,
    Vec(Box<Ty>),
    Map(Box<Ty>),
    Opt(Box<Ty>),
    Boxed(Box<Ty>),
}

impl Ty {
    fn without_opt(self) -> (Ty, bool) {
        match self {
            Ty::Opt(inner) => (*inner, true),
            other => (other, false),
        }
    }

    /// Named types this one contains without indirection through a collection.
    fn direct_names(&self, out: &mut Vec<String>) {
        match self {
            Ty::Named(n) => out.push(n.clone()),
            Ty::Opt(t) | Ty::Boxed(t) => t.direct_names(out),
            _ => {}
        }
    }

    /// Every named type this one mentions.
    pub fn all_names(&self, out: &mut Vec<String>) {
        match self {
            Ty::Named(n) => out.push(n.clone()),
            Ty::Opt(t) | Ty::Boxed(t) | Ty::Vec(t) | Ty::Map(t) => t.all_names(out),
            _ => {}
        }
    }
}

/// One struct field.
#[derive(Debug, Clone)]
pub struct Field {
    pub wire: String,
    pub ident: String,
    /// The type without the outer `Option`.
    pub ty: Ty,
    /// Whether the Rust field is an `Option`.
    pub optional: bool,
    /// Whether the spec documents `null` as clearing the field (a PATCH's "send `null` to
    /// remove it"): request types then tell `null` apart from absence.
    pub clearable: bool,
    pub doc: String,
}

/// Whether a nullable field's description documents `null` as clearing it ("Pass `null`
/// to remove the existing image", "double-option: send `null` to clear it", "Some(None) =
/// clear name", "`null` → clear"). "Send an empty array to clear" does not count (that is
/// a value), nor a field the spec calls "not double-option".
pub fn documents_null_clears(doc: &str) -> bool {
    let doc = doc.to_lowercase();
    if doc.contains("not double-option") {
        return false;
    }
    doc.contains("some(none)")
        || doc.contains("null") && ["remove", "clear", "unset"].iter().any(|w| doc.contains(w))
}

/// One variant of a union tagged by a property.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub tag_value: String,
    /// The variant's content; `None` when the tag is all it carries.
    pub ty: Option<Ty>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Struct(Vec<Field>),
    Enum(Vec<String>),
    Tagged { tag: String, variants: Vec<Variant> },
    Untagged(Vec<(String, Ty)>),
    Alias(Ty),
}

#[derive(Debug, Clone)]
pub struct TypeDef {
    pub name: String,
    pub doc: String,
    pub kind: Kind,
    /// Reachable from a response or webhook: `None` serialises as `null`.
    pub response: bool,
    /// A query-string struct.
    pub query: bool,
}

/// What an operation answers.
#[derive(Debug, Clone)]
pub enum Response {
    Json(Ty),
    List(Ty),
    Cursor(Ty),
    Empty,
    Bytes(String),
}

/// The types of one operation.
#[derive(Debug, Clone)]
pub struct OpTypes {
    pub query: Option<String>,
    pub body: Option<Ty>,
    pub response: Response,
    pub status: u16,
    /// The body type has an `idempotency_key` field.
    pub body_idempotency_field: bool,
}

/// All generated types plus the per-operation view.
pub struct TypeSet {
    pub defs: BTreeMap<String, TypeDef>,
    pub ops: Vec<OpTypes>,
}

/// The webhook `data` objects, by the short names users know them by.
pub const WEBHOOK_ALIASES: &[(&str, &str)] = &[
    ("AbandonedCheckout", "AbandonedCheckoutPayload"),
    ("CreditBalanceLow", "CreditBalanceLowPayload"),
    ("CreditLedgerEntry", "CreditLedgerEntryResponse"),
    ("Dispute", "GetDisputeResponse"),
    ("DunningAttempt", "DunningAttemptPayload"),
    ("EntitlementGrant", "EntitlementGrantResponse"),
    ("LicenseKey", "LicenseKeyResponse"),
    ("Payment", "PaymentResponse"),
    ("Payout", "PayoutsResponse"),
    ("Refund", "RefundResponse"),
    ("Subscription", "SubscriptionResponse"),
];

struct Builder<'a> {
    api: &'a Api,
    defs: BTreeMap<String, TypeDef>,
    in_progress: BTreeSet<String>,
    enums_by_values: HashMap<Vec<String>, String>,
}

impl TypeSet {
    /// Converts every schema the operations and webhooks use.
    pub fn build(api: &Api) -> Result<TypeSet> {
        let mut b = Builder {
            api,
            defs: BTreeMap::new(),
            in_progress: BTreeSet::new(),
            enums_by_values: HashMap::new(),
        };
        b.index_named_enums();
        let names: Vec<String> = api
            .doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for name in &names {
            b.named(name)?;
        }
        let mut ops = Vec::new();
        for op in &api.operations {
            ops.push(
                b.operation(op)
                    .with_context(|| format!("{} {}", op.method, op.path))?,
            );
        }
        let mut set = TypeSet { defs: b.defs, ops };
        set.box_recursion();
        set.mark_responses();
        Ok(set)
    }

    fn box_recursion(&mut self) {
        let direct: BTreeMap<String, Vec<String>> = self
            .defs
            .iter()
            .map(|(n, d)| {
                let mut out = Vec::new();
                match &d.kind {
                    Kind::Struct(fields) => fields.iter().for_each(|f| f.ty.direct_names(&mut out)),
                    Kind::Tagged { variants, .. } => variants
                        .iter()
                        .filter_map(|v| v.ty.as_ref())
                        .for_each(|t| t.direct_names(&mut out)),
                    Kind::Untagged(vs) => vs.iter().for_each(|(_, t)| t.direct_names(&mut out)),
                    Kind::Alias(t) => t.direct_names(&mut out),
                    Kind::Enum(_) => {}
                }
                (n.clone(), out)
            })
            .collect();
        let reaches = |from: &str, to: &str| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from.to_owned()];
            while let Some(n) = stack.pop() {
                if n == to {
                    return true;
                }
                if seen.insert(n.clone()) {
                    stack.extend(direct.get(&n).cloned().unwrap_or_default());
                }
            }
            false
        };
        let names: Vec<String> = self.defs.keys().cloned().collect();
        for name in names {
            let Some(def) = self.defs.get(&name) else {
                continue;
            };
            let Kind::Struct(fields) = &def.kind else {
                continue;
            };
            let mut fields = fields.clone();
            let mut changed = false;
            for f in &mut fields {
                if let Ty::Named(target) = &f.ty
                    && reaches(target, &name)
                {
                    f.ty = Ty::Boxed(Box::new(f.ty.clone()));
                    changed = true;
                }
            }
            if changed && let Some(def) = self.defs.get_mut(&name) {
                def.kind = Kind::Struct(fields);
            }
        }
    }

    /// Every type name reachable from `roots` (the roots included).
    pub fn reachable(&self, mut roots: Vec<String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        while let Some(n) = roots.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            if let Some(def) = self.defs.get(&n) {
                match &def.kind {
                    Kind::Struct(fields) => fields.iter().for_each(|f| f.ty.all_names(&mut roots)),
                    Kind::Tagged { variants, .. } => variants
                        .iter()
                        .filter_map(|v| v.ty.as_ref())
                        .for_each(|t| t.all_names(&mut roots)),
                    Kind::Untagged(vs) => vs.iter().for_each(|(_, t)| t.all_names(&mut roots)),
                    Kind::Alias(t) => t.all_names(&mut roots),
                    Kind::Enum(_) => {}
                }
            }
        }
        seen
    }

    /// The names an operation's body, query and response mention.
    pub fn op_roots(op: &OpTypes) -> Vec<String> {
        let mut roots = Vec::new();
        if let Some(b) = &op.body {
            b.all_names(&mut roots);
        }
        if let Some(q) = &op.query {
            roots.push(q.clone());
        }
        match &op.response {
            Response::Json(t) | Response::List(t) | Response::Cursor(t) => t.all_names(&mut roots),
            _ => {}
        }
        roots
    }

    /// The types of webhook payloads.
    pub fn event_roots() -> Vec<String> {
        let mut roots: Vec<String> = WEBHOOK_ALIASES.iter().map(|(_, n)| n.to_string()).collect();
        roots.push("OutgoingWebhook".into());
        roots
    }

    fn mark_responses(&mut self) {
        let mut roots = Vec::new();
        for op in &self.ops {
            match &op.response {
                Response::Json(t) | Response::List(t) | Response::Cursor(t) => {
                    t.all_names(&mut roots)
                }
                _ => {}
            }
        }
        roots.extend(Self::event_roots());
        for name in self.reachable(roots) {
            if let Some(def) = self.defs.get_mut(&name) {
                def.response = true;
            }
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn description(schema: &Value) -> String {
    schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

impl Builder<'_> {
    fn index_named_enums(&mut self) {
        if let Some(schemas) = self
            .api
            .doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, s) in schemas {
                let values = strings(s.get("enum"));
                if !values.is_empty() && name != "Metadata" {
                    self.enums_by_values
                        .entry(values)
                        .or_insert_with(|| name.clone());
                }
            }
        }
    }

    fn unique(&self, hint: &str) -> String {
        let schemas = self.api.doc.pointer("/components/schemas");
        let taken = |n: &str| {
            self.defs.contains_key(n)
                || self.in_progress.contains(n)
                || schemas.and_then(|s| s.get(n)).is_some()
        };
        if !taken(hint) {
            return hint.to_owned();
        }
        (2..)
            .map(|i| format!("{hint}{i}"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| hint.to_owned())
    }

    fn insert(&mut self, name: &str, doc: String, kind: Kind) {
        self.defs.insert(
            name.to_owned(),
            TypeDef {
                name: name.to_owned(),
                doc,
                kind,
                response: false,
                query: false,
            },
        );
    }

    /// The type of a named component schema, defining it on first use.
    fn named(&mut self, name: &str) -> Result<Ty> {
        if name == "Metadata" {
            return Ok(Ty::Metadata);
        }
        if self.defs.contains_key(name) || self.in_progress.contains(name) {
            return Ok(Ty::Named(name.to_owned()));
        }
        let schema = self
            .api
            .schema(name)
            .cloned()
            .with_context(|| format!("no schema {name}"))?;
        self.in_progress.insert(name.to_owned());
        let kind = self
            .define(name, &schema)
            .with_context(|| format!("schema {name}"))?;
        self.in_progress.remove(name);
        self.insert(name, description(&schema), kind);
        Ok(Ty::Named(name.to_owned()))
    }

    fn define(&mut self, name: &str, schema: &Value) -> Result<Kind> {
        let union = schema.get("oneOf").or_else(|| schema.get("anyOf"));
        if let Some(variants) = union.and_then(Value::as_array) {
            let non_null: Vec<&Value> = variants.iter().filter(|v| !is_null_schema(v)).collect();
            if non_null.len() >= 2 {
                return self.union(name, schema, &non_null);
            }
        }
        if schema.get("allOf").is_some() || schema.get("properties").is_some() {
            let (props, required) = self.flatten(schema)?;
            return Ok(Kind::Struct(self.fields(name, &props, &required)?));
        }
        let values = strings(schema.get("enum"));
        if !values.is_empty() {
            return Ok(Kind::Enum(values));
        }
        let ty = self.ty(schema, &format!("{name}Value"), None)?;
        Ok(Kind::Alias(ty.without_opt().0))
    }

    /// Properties and required names of an object schema, following `allOf` and `$ref`.
    fn flatten(&self, schema: &Value) -> Result<(Map<String, Value>, Vec<String>)> {
        if let Some(name) = ref_name(schema) {
            let target = self
                .api
                .schema(name)
                .with_context(|| format!("no schema {name}"))?;
            return self.flatten(target);
        }
        let mut props = Map::new();
        let mut required = strings(schema.get("required"));
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                let (p, r) = self.flatten(part)?;
                props.extend(p);
                required.extend(r);
            }
        }
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            props.extend(p.clone());
        }
        Ok((props, required))
    }

    fn fields(
        &mut self,
        owner: &str,
        props: &Map<String, Value>,
        required: &[String],
    ) -> Result<Vec<Field>> {
        let mut out = Vec::new();
        for (wire, schema) in props {
            let hint = format!("{owner}{}", pascal(wire));
            let ty = self
                .ty(schema, &hint, Some(wire))
                .with_context(|| format!("field {wire}"))?;
            let (ty, nullable) = ty.without_opt();
            let mut doc = description(schema);
            if doc.is_empty()
                && let Some(inner) = schema
                    .get("oneOf")
                    .and_then(Value::as_array)
                    .and_then(|vs| vs.iter().find(|v| !is_null_schema(v)))
            {
                doc = description(inner);
            }
            out.push(Field {
                wire: wire.clone(),
                ident: field_ident(wire),
                ty,
                optional: nullable || !required.contains(wire),
                clearable: nullable && documents_null_clears(&doc),
                doc,
            });
        }
        Ok(out)
    }

    /// The single string value a property is pinned to, if it is a one-value enum.
    fn const_value(&self, prop: &Value) -> Option<String> {
        let prop = match ref_name(prop) {
            Some(n) => self.api.schema(n)?,
            None => prop,
        };
        let values = strings(prop.get("enum"));
        if values.len() == 1 {
            return values.into_iter().next();
        }
        prop.get("const").and_then(Value::as_str).map(str::to_owned)
    }

    fn union(&mut self, name: &str, schema: &Value, variants: &[&Value]) -> Result<Kind> {
        let flattened: Vec<(Map<String, Value>, Vec<String>)> = variants
            .iter()
            .map(|v| self.flatten(v))
            .collect::<Result<_>>()?;
        let tag = schema
            .pointer("/discriminator/propertyName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let first = &flattened.first()?.0;
                first
                    .keys()
                    .find(|k| {
                        flattened.iter().all(|(p, _)| {
                            p.get(k.as_str())
                                .and_then(|s| self.const_value(s))
                                .is_some()
                        })
                    })
                    .cloned()
            });
        let is_object = |v: &Value| {
            ref_name(v).is_some() || v.get("allOf").is_some() || v.get("properties").is_some()
        };
        if let Some(tag) = tag
            && variants.iter().all(|v| is_object(v))
        {
            let mut out = Vec::new();
            for (variant, (props, required)) in variants.iter().zip(&flattened) {
                let tag_value = props
                    .get(&tag)
                    .and_then(|s| self.const_value(s))
                    .context("tag value")?;
                let vname = variant
                    .get("title")
                    .and_then(Value::as_str)
                    .map(pascal)
                    .unwrap_or_else(|| pascal(&tag_value));
                // Reuse a referenced struct when the tag lives only in the wrapper.
                let reused = variant
                    .get("allOf")
                    .and_then(Value::as_array)
                    .and_then(|parts| parts.iter().find_map(ref_name))
                    .or_else(|| ref_name(variant))
                    .filter(|r| {
                        self.flatten(
                            &serde_json::json!({"$ref": format!("#/components/schemas/{r}")}),
                        )
                        .map(|(p, _)| !p.contains_key(&tag))
                        .unwrap_or(false)
                    })
                    .map(str::to_owned);
                let ty = match reused {
                    Some(r) => Some(self.named(&r)?),
                    None => {
                        let mut rest = props.clone();
                        rest.remove(&tag);
                        if rest.is_empty() {
                            None
                        } else {
                            let sname = self.unique(&format!("{name}{vname}"));
                            self.in_progress.insert(sname.clone());
                            let fields = self.fields(&sname, &rest, required)?;
                            self.in_progress.remove(&sname);
                            self.insert(&sname, description(variant), Kind::Struct(fields));
                            Some(Ty::Named(sname))
                        }
                    }
                };
                out.push(Variant {
                    name: vname,
                    tag_value,
                    ty,
                });
            }
            dedupe_variant_names(&mut out);
            return Ok(Kind::Tagged { tag, variants: out });
        }
        let mut out = Vec::new();
        for (i, variant) in variants.iter().enumerate() {
            let vname = variant
                .get("title")
                .and_then(Value::as_str)
                .map(pascal)
                .or_else(|| ref_name(variant).map(pascal))
                .unwrap_or_else(|| format!("Variant{i}"));
            let ty = self.ty(variant, &format!("{name}{vname}"), None)?;
            out.push((vname, ty));
        }
        let mut seen = BTreeSet::new();
        for (vname, _) in &mut out {
            while !seen.insert(vname.clone()) {
                vname.push('2');
            }
        }
        Ok(Kind::Untagged(out))
    }

    /// The Rust type of a schema appearing inline; `hint` names any type it defines.
    fn ty(&mut self, schema: &Value, hint: &str, field: Option<&str>) -> Result<Ty> {
        if let Some(name) = ref_name(schema) {
            return self.named(name);
        }
        if let Some(variants) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            let nullable = variants.iter().any(is_null_schema);
            let non_null: Vec<&Value> = variants.iter().filter(|v| !is_null_schema(v)).collect();
            let inner = if non_null.len() == 1 {
                self.ty(non_null[0], hint, field)?
            } else {
                self.inline_def(hint, schema)?
            };
            return Ok(if nullable {
                Ty::Opt(Box::new(inner))
            } else {
                inner
            });
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            if parts.len() == 1 {
                return self.ty(&parts[0], hint, field);
            }
            return self.inline_def(hint, schema);
        }
        let (base, nullable) = match schema.get("type") {
            Some(Value::String(t)) => (t.clone(), false),
            Some(Value::Array(ts)) => {
                let nullable = ts.iter().any(|t| t == "null");
                let base = ts
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| *t != "null")
                    .unwrap_or("null")
                    .to_owned();
                (base, nullable)
            }
            _ => ("any".to_owned(), false),
        };
        let ty = match base.as_str() {
            "string" => {
                let values = strings(schema.get("enum"));
                if !values.is_empty() {
                    match self.enums_by_values.get(&values).cloned() {
                        Some(existing) => self.named(&existing)?,
                        None => {
                            let name = self.unique(hint);
                            self.insert(&name, description(schema), Kind::Enum(values.clone()));
                            self.enums_by_values.insert(values, name.clone());
                            Ty::Named(name)
                        }
                    }
                } else if schema.get("format").and_then(Value::as_str) == Some("date-time") {
                    Ty::DateTime
                } else if field.is_some_and(|f| DECIMAL_FIELDS.contains(&f)) {
                    Ty::Decimal
                } else {
                    Ty::Str
                }
            }
            "integer" => Ty::Int,
            "number" => Ty::Float,
            "boolean" => Ty::Bool,
            "array" => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                Ty::Vec(Box::new(self.ty(&items, &format!("{hint}Item"), None)?))
            }
            "object" => {
                if schema.get("properties").is_some() {
                    self.inline_def(hint, schema)?
                } else {
                    match schema.get("additionalProperties") {
                        Some(ap @ Value::Object(m)) if !m.is_empty() => {
                            Ty::Map(Box::new(self.ty(ap, &format!("{hint}Value"), None)?))
                        }
                        _ => Ty::Json,
                    }
                }
            }
            "null" => Ty::Json,
            "any" => Ty::Json,
            other => bail!("unsupported schema type {other}"),
        };
        Ok(if nullable { Ty::Opt(Box::new(ty)) } else { ty })
    }

    fn inline_def(&mut self, hint: &str, schema: &Value) -> Result<Ty> {
        let name = self.unique(hint);
        self.in_progress.insert(name.clone());
        let kind = self.define(&name, schema)?;
        self.in_progress.remove(&name);
        self.insert(&name, description(schema), kind);
        Ok(Ty::Named(name))
    }

    fn operation(&mut self, op: &Operation) -> Result<OpTypes> {
        let base = format!(
            "{}{}",
            pascal(&op.name),
            pascal(&op.group.replace('/', " "))
        );
        let query_params = op.params("query");
        let query = if query_params.is_empty() {
            None
        } else {
            let name = self.unique(&format!("{base}Query"));
            self.in_progress.insert(name.clone());
            let mut fields = Vec::new();
            for p in query_params {
                let wire = p
                    .get("name")
                    .and_then(Value::as_str)
                    .context("parameter name")?;
                let schema = p.get("schema").cloned().unwrap_or(Value::Null);
                let ty = self.ty(&schema, &format!("{name}{}", pascal(wire)), Some(wire))?;
                let (ty, nullable) = ty.without_opt();
                let required = p.get("required").and_then(Value::as_bool) == Some(true);
                fields.push(Field {
                    wire: wire.to_owned(),
                    ident: field_ident(wire),
                    ty,
                    optional: nullable || !required,
                    clearable: false,
                    doc: p
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
            self.in_progress.remove(&name);
            self.insert(
                &name,
                format!("Query parameters of `{} {}`.", op.method, op.path),
                Kind::Struct(fields),
            );
            if let Some(d) = self.defs.get_mut(&name) {
                d.query = true;
            }
            Some(name)
        };
        let body_schema = op
            .spec
            .pointer("/requestBody/content/application~1json/schema")
            .cloned();
        let body = match &body_schema {
            Some(s) => Some(self.ty(s, &format!("{base}Request"), None)?.without_opt().0),
            None => None,
        };
        let body_idempotency_field = match &body_schema {
            Some(s) => self
                .flatten(s)
                .map(|(p, _)| p.contains_key("idempotency_key"))
                .unwrap_or(false),
            None => false,
        };
        let responses = op
            .spec
            .get("responses")
            .and_then(Value::as_object)
            .context("operation has no responses")?;
        let (status, resp) = responses
            .iter()
            .filter(|(code, _)| code.starts_with('2'))
            .min_by_key(|(code, _)| code.to_string())
            .context("operation has no 2xx response")?;
        let status: u16 = status.parse().context("status code")?;
        let response = match resp.get("content").and_then(Value::as_object) {
            None => Response::Empty,
            Some(content) if content.is_empty() => Response::Empty,
            Some(content) => match content.get("application/json") {
                Some(json) => {
                    let schema = json.get("schema").cloned().unwrap_or(Value::Null);
                    self.response(&schema, &base)?
                }
                None => Response::Bytes(content.keys().next().cloned().unwrap_or_default()),
            },
        };
        Ok(OpTypes {
            query,
            body,
            response,
            status,
            body_idempotency_field,
        })
    }

    fn response(&mut self, schema: &Value, base: &str) -> Result<Response> {
        let (props, _) = self.flatten(schema)?;
        let item_of = |b: &mut Self, key: &str| -> Result<Option<Ty>> {
            match props.get(key) {
                Some(p) if p.get("type").and_then(Value::as_str) == Some("array") => {
                    let items = p.get("items").cloned().unwrap_or(Value::Null);
                    Ok(Some(b.ty(&items, &format!("{base}Item"), None)?))
                }
                _ => Ok(None),
            }
        };
        if props.len() == 1
            && let Some(item) = item_of(self, "items")?
        {
            // Keep the named wrapper type defined too: the emulator and users name it.
            self.ty(schema, &format!("{base}Response"), None)?;
            return Ok(Response::List(item));
        }
        if props.contains_key("iterator")
            && props.contains_key("done")
            && let Some(item) = item_of(self, "data")?
        {
            self.ty(schema, &format!("{base}Response"), None)?;
            return Ok(Response::Cursor(item));
        }
        Ok(Response::Json(
            self.ty(schema, &format!("{base}Response"), None)?
                .without_opt()
                .0,
        ))
    }
}

fn dedupe_variant_names(variants: &mut [Variant]) {
    let mut seen = BTreeSet::new();
    for v in variants.iter_mut() {
        if !seen.insert(v.name.clone()) {
            v.name = pascal(&v.tag_value);
            seen.insert(v.name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::documents_null_clears;

    #[test]
    fn null_clearing_is_read_from_the_spec_words() {
        for clears in [
            "Pass `null` to remove the existing image, omit to keep it unchanged.",
            "If present, update `starts_at` (double-option: send `null` to clear it).",
            "Some(Some(name)) = set name, Some(None) = clear name, None = no change",
            "* omitted → preserve the current value\n* `null`  → clear",
            "Set to null to remove the default.",
        ] {
            assert!(documents_null_clears(clears), "{clears}");
        }
        for keeps in [
            "Send an empty array to clear them.",
            "Plain field (not double-option): the DB column is `NOT NULL`, so it can never be \
             cleared back to unset.",
            "Optional description.",
        ] {
            assert!(!documents_null_clears(keeps), "{keeps}");
        }
    }
}
