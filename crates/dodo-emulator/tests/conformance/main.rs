//! The conformance crawler: every operation of the spec (the merchant operations of
//! `../shared/dodo-openapi/openapi.json` plus the newer ones of `endpoints.tsv`, whose
//! schemas live in `codegen/overlay.json`) is called over real HTTP on an emulator started
//! in-process on port 0, with a spec-valid request built from the spec's schemas, and every
//! answer is validated against the spec's response schema with the `jsonschema` crate.
//!
//! Order: objects are created first (parents before children: brand → product → addon →
//! meter → customer → discount → payment → subscription → …), then read, then updated, then
//! deleted (deepest paths first), so every path parameter names an object the crawl made or
//! the platform made through a trigger (a settled payment, a dispute, a payout). Beside the
//! success case, an operation whose spec lists a 404 is called with an unknown id, one that
//! lists a 401 without the API key, and one that lists a 422 with a body of the wrong type;
//! each must answer that status with the error body `{"code", "message"}`.
//!
//! The test prints a per-operation table and fails naming each mismatched operation and the
//! schema error. `DODO_CONFORMANCE_WRITE=1 cargo test -p dodo-emulator --test conformance`
//! also rewrites the table in `crates/dodo-emulator/README.md`. `DODO_CONFORMANCE_FULL=1`
//! fills optional request properties too: an exploratory run, whose made-up optional values
//! (a discount code, a product to restrict to) may be refused for good reasons.

mod spec;
mod values;

use std::fmt::Write as _;

use dodo_emulator::testing::TestEmulator;
use dodo_types::operations::{OPERATIONS, Operation};
use serde_json::{Value, json};

use spec::Spec;
use values::{ID_FIELDS, Ids};

/// The error body every error answer carries.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string", "minLength": 1}, "message": {"type": "string"}}
    })
}

/// Roles in creation order: a parent comes before its children.
const ROLES: &[&str] = &[
    "/brands",
    "/products",
    "/addons",
    "/meters",
    "/customers",
    "/blocklist",
    "/discounts",
    "/webhooks",
    "/events",
    "/payments",
    "/subscriptions",
    "/checkouts",
    "/refunds",
    "/license_keys",
    "/licenses",
    "/license_key_instances",
    "/credit-entitlements",
    "/entitlements",
    "/grants",
    "/product-collections",
];

/// The role of the object a collection template addresses (`/products/{}/localized-prices`).
fn own_role(collection: &str) -> Option<&'static str> {
    Some(match collection {
        "/products" => "product",
        "/addons" => "addon",
        "/meters" => "meter",
        "/brands" => "brand",
        "/customers" => "customer",
        "/discounts" => "discount",
        "/payments" => "payment",
        "/subscriptions" => "subscription",
        "/refunds" => "refund",
        "/disputes" => "dispute",
        "/payouts" => "payout",
        "/webhooks" => "webhook",
        "/events" => "event",
        "/license_keys" => "license_key",
        "/license_key_instances" => "license_key_instance",
        "/checkouts" => "checkout",
        "/credit-entitlements" => "credit_entitlement",
        "/entitlements" => "entitlement",
        "/product-collections" => "collection",
        "/products/{}/localized-prices" => "localized_price",
        "/blocklist/customers" => "blocklist",
        "/blocklist/customers/{}/notes" => "blocklist_note",
        "/product-collections/{}/groups" => "collection_group",
        "/product-collections/{}/groups/{}/items" => "collection_item",
        "/entitlements/{}/files" => "entitlement_file",
        "/licenses/activate" => "license_key_instance",
        "/entitlements/{}/grants" => "entitlement_grant",
        "/customers/{}/payment-methods" => "payment_method",
        "/customers/{}/emails" => "email",
        _ => return None,
    })
}

/// The role a path parameter names.
fn param_role(path: &str, index: usize, name: &str) -> Option<&'static str> {
    if path.ends_with("/retry") {
        return Some("failed_payment");
    }
    if name == "id" && path.starts_with("/entitlements/{id}/files") {
        return Some("files_entitlement");
    }
    if name == "product_id" && path.starts_with("/products/{product_id}/localized-prices") {
        return Some("localized_product");
    }
    if name == "customer_id" && path.starts_with("/customers/{customer_id}/emails/") {
        return Some("email_customer");
    }
    if let Some((_, role)) = ID_FIELDS.iter().find(|(f, _)| *f == name) {
        return Some(role);
    }
    Some(match name {
        "grant_id" => "entitlement_grant",
        "entry_id" => "blocklist",
        "note_id" => "blocklist_note",
        "email_log_id" => "email",
        "file_id" => "entitlement_file",
        "group_id" => "collection_group",
        "item_id" => "collection_item",
        "code" => "discount_code",
        "locale" => "locale",
        _ => {
            let template = collection_of(path, index);
            return own_role(&template);
        }
    })
}

/// The collection template in front of the `index`-th parameter (`/products/{}/localized-prices`).
fn collection_of(path: &str, index: usize) -> String {
    let mut seen = 0;
    let mut out = Vec::new();
    for seg in path.split('/') {
        if seg.starts_with('{') {
            if seen == index {
                break;
            }
            seen += 1;
            out.push("{}");
        } else {
            out.push(seg);
        }
    }
    out.join("/")
}

fn params(op: &Operation) -> Vec<&'static str> {
    op.path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// Operations that create a child object other operations read (run with the creates).
const CHILD_CREATES: &[&str] = &[
    "create_ledger_entry_handler",
    "create_customer_ledger_entry",
    "add_group_to_collection",
    "add_products_to_group",
    "create_localized_price",
    "add_note",
    "create_short_link_handler",
    "add_discount_customers_handler",
    "post_entitlement_file",
];

/// Crawl order: creates (by [`ROLES`]), reads, updates and actions, deletes (deepest first).
fn order_key(op: &Operation) -> (u8, usize, usize, &'static str, &'static str) {
    let rank = ROLES
        .iter()
        .position(|r| op.path.starts_with(r))
        .unwrap_or(ROLES.len());
    let depth = op.path.matches('/').count();
    let create = op.method == "POST"
        && ((!op.path.ends_with('}') && params(op).is_empty())
            || CHILD_CREATES.contains(&op.operation_id));
    let revive = op.path.ends_with("/unarchive") || op.path.ends_with("/undelete");
    let phase = match op.method {
        // Restoring needs the delete before it.
        _ if revive => 4,
        // Deactivation removes the instance the reads and updates use.
        _ if op.operation_id == "deactivate_license_key" => 3,
        _ if create => 0,
        "GET" => 1,
        "DELETE" => 3,
        _ => 2,
    };
    let depth_key = if phase == 3 { 100 - depth } else { depth };
    (phase, rank, depth_key, op.path, op.method)
}

/// Bodies the schema alone cannot make meaningful (a price type, a settled payment to
/// refund, the key to activate); `$role` is replaced by that role's id.
fn template(op: &Operation) -> Option<Value> {
    Some(match op.operation_id {
        "create_product" => json!({"name": "Crawler product", "tax_category": "saas",
            "price": {"type": "one_time_price", "price": 2500, "currency": "USD", "discount": 0,
                      "purchasing_power_parity": false}, "license_key_enabled": true,
            "license_key_activations_limit": 5}),
        "create_one_time_payment_handler" => json!({
            "product_cart": [{"product_id": "$product", "quantity": 1}],
            "customer": {"customer_id": "$customer"}, "billing": {"country": "US"}}),
        "create_subscription_handler" => json!({"product_id": "$plan", "quantity": 1,
            "customer": {"customer_id": "$customer"}, "billing": {"country": "US"}}),
        "create_session" | "preview_session" => json!({
            "product_cart": [{"product_id": "$product", "quantity": 1}]}),
        "create_refund_handler" => json!({"payment_id": "$payment", "reason": "crawler"}),
        "create_license_key" => json!({"customer_id": "$customer", "product_id": "$product",
            "key": "CRAWL-KEY-0001"}),
        "activate_license_key" => json!({"license_key": "$license_key_key", "name": "laptop"}),
        "validate_license_key" => json!({"license_key": "$license_key_key"}),
        "deactivate_license_key" => json!({"license_key": "$license_key_key",
            "license_key_instance_id": "$license_key_instance"}),
        "ingest_events" => json!({"events": [{"event_id": "evt_crawler_1",
            "customer_id": "$customer", "event_name": "api_call"}]}),
        "create_webhook" => json!({"url": "https://example.com/crawler-hook"}),
        "create_discount_handler" => json!({"amount": 1000, "type": "percentage",
            "code": "CRAWLER10"}),
        "change_plan_preview_handler" => json!({"product_id": "$plan", "quantity": 2,
            "proration_billing_mode": "prorated_immediately"}),
        // Scheduled, so that `DELETE …/change-plan/scheduled` has a change to cancel.
        "update_subscription_plan_handler" => json!({"product_id": "$plan", "quantity": 2,
            "proration_billing_mode": "prorated_immediately",
            "effective_at": "next_billing_date"}),
        "create_subscription_charge" => json!({"product_price": 700}),
        "create_customer_ledger_entry" => json!({"amount": 500, "currency": "USD",
            "entry_type": "credit"}),
        // A customer of its own: a block refuses the blocked customer's payments.
        "create_blocked_customer" => {
            json!({"customer_id": "$blocked_customer", "reason": "crawler"})
        }
        "add_discount_customers" | "add_discount_customers_handler" => json!({
            "customer_ids": ["$customer"]}),
        "create_customer_portal_session" => Value::Null,
        // A license-key entitlement needs no other object to exist.
        "create_entitlement_public_handler" => json!({"name": "Crawler entitlement",
            "integration_type": "license_key", "integration_config": {"activations_limit": 3}}),
        "create_localized_price" => json!({"currency": "EUR", "amount": 2300}),
        // Another product than the one the collection's group starts with.
        "add_products_to_group" => json!({"products": [{"product_id": "$plan"}]}),
        "upsert_product_translation"
        | "upsert_addon_translation"
        | "upsert_meter_translation"
        | "upsert_product_collection_translation" => {
            json!({"name": "Nom", "description": "Une description"})
        }
        "upsert_credit_entitlement_translation" => json!({"name": "Crédits", "unit": "crédit"}),
        "upsert_entitlement_translation" => json!({"name": "Accès", "description": "Un accès"}),
        "screen_content" => json!({"text": "A friendly product description."}),
        _ => return None,
    })
}

fn substitute(v: &mut Value, ids: &Ids) -> Result<(), String> {
    match v {
        Value::String(s) if s.starts_with('$') => {
            let role = &s[1..];
            let id = ids
                .get(role)
                .ok_or_else(|| format!("no `{role}` object to use"))?;
            *s = id.to_string();
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| substitute(x, ids))?,
        Value::Object(o) => o.values_mut().try_for_each(|x| substitute(x, ids))?,
        _ => {}
    }
    Ok(())
}

/// Records the ids an answer names.
fn harvest(op: &Operation, body: &Value, ids: &mut Ids) {
    let item = body["items"]
        .get(0)
        .or_else(|| body["data"].get(0))
        .or_else(|| body.get(0))
        .unwrap_or(body);
    let collection = if op.path.ends_with('}') {
        collection_of(op.path, params(op).len() - 1)
    } else {
        collection_of(op.path, usize::MAX)
    };
    if let Some(role) = own_role(&collection) {
        for field in [
            "id",
            &format!("{role}_id"),
            "entry_id",
            "note_id",
            "file_id",
            "group_id",
        ] {
            if let Some(id) = item[field].as_str() {
                ids.offer(role, id);
                break;
            }
        }
        if role == "license_key"
            && let Some(key) = item["key"].as_str()
        {
            ids.offer("license_key_key", key);
        }
        if role == "discount"
            && let Some(code) = item["code"].as_str()
        {
            ids.offer("discount_code", code);
        }
    }
    for (field, role) in ID_FIELDS {
        if let Some(id) = item[*field].as_str() {
            ids.offer(role, id);
        }
    }
}

/// The body of a 2xx answer of a setup call, or an error naming the call.
fn expect_2xx(a: Answer, what: &str) -> Result<Value, String> {
    if (200..300).contains(&a.status) {
        Ok(a.body)
    } else {
        Err(format!("setup: {what} answered {}: {}", a.status, a.body))
    }
}

struct Crawl {
    spec: Spec,
    emu: TestEmulator,
    http: reqwest::Client,
    ids: Ids,
    rows: Vec<Row>,
}

struct Row {
    method: &'static str,
    path: &'static str,
    statuses: Vec<u16>,
    failures: Vec<String>,
}

struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl Crawl {
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, String> {
        self.send_as(method, path, body, true).await
    }

    async fn send_as(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        authenticated: bool,
    ) -> Result<Answer, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.emu.base_url()));
        if authenticated {
            rb = rb.bearer_auth(self.emu.api_key());
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.map_err(|e| format!("HTTP error: {e}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        let body = if content_type.starts_with("application/json") && !bytes.is_empty() {
            serde_json::from_slice(&bytes).map_err(|e| format!("body is not JSON: {e}"))?
        } else {
            Value::Null
        };
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// POSTs a setup object; fails naming it unless the answer is 2xx.
    async fn create(&self, path: &str, body: Value, what: &str) -> Result<Value, String> {
        expect_2xx(self.send("POST", path, Some(&body)).await?, what)
    }

    /// Uploads a small file as `multipart/form-data` (part `file`), as the entitlement files
    /// route takes it (the spec does not describe that body).
    async fn send_file(&self, path: &str) -> Result<Answer, String> {
        let boundary = "crawlerboundary7MA4YWxk";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"guide.txt\"\r\n\
             Content-Type: text/plain\r\n\r\nHello from the crawler.\r\n--{boundary}--\r\n"
        );
        let resp = self
            .http
            .post(format!("{}{path}", self.emu.base_url()))
            .bearer_auth(self.emu.api_key())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| format!("HTTP error: {e}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// The concrete path of an operation, with `unknown` in place of the last parameter.
    fn path(&self, op: &Operation, unknown: bool) -> Result<String, String> {
        let names = params(op);
        let mut out = String::new();
        let mut index = 0;
        for seg in op.path.split('/').skip(1) {
            out.push('/');
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let value = if unknown && index + 1 == names.len() {
                    "zz_unknown_404".to_string()
                } else if name == "locale" {
                    "fr".to_string()
                } else {
                    let role = param_role(op.path, index, name)
                        .ok_or_else(|| format!("no role for path parameter `{name}`"))?;
                    self.ids
                        .get(role)
                        .ok_or_else(|| format!("no `{role}` object for `{{{name}}}`"))?
                        .to_string()
                };
                out.push_str(&value);
                index += 1;
            } else {
                out.push_str(seg);
            }
        }
        Ok(out)
    }

    fn query(&self, spec_op: &Value) -> String {
        let mut pairs = Vec::new();
        for p in spec_op["parameters"].as_array().into_iter().flatten() {
            let p = self.spec.resolve(p);
            if p["in"] == "query" && p["required"] == true {
                let name = p["name"].as_str().unwrap_or_default();
                let v = values::build(&self.spec, &p["schema"], name, &self.ids, 0);
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                pairs.push((name.to_string(), text));
            }
        }
        if pairs.is_empty() {
            String::new()
        } else {
            format!(
                "?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
    }

    fn body(&self, op: &Operation, spec_op: &Value) -> Result<Option<Value>, String> {
        let Some(schema) = spec_op["requestBody"]["content"]["application/json"].get("schema")
        else {
            return Ok(template(op).filter(|t| !t.is_null()));
        };
        let mut body = match template(op) {
            Some(t) => t,
            None => values::build(&self.spec, schema, "", &self.ids, 0),
        };
        substitute(&mut body, &self.ids)?;
        if body.is_null() {
            return Ok(None);
        }
        self.spec
            .check(schema, &body)
            .map_err(|e| format!("the crawler built a request the spec rejects: {e}"))?;
        Ok(Some(body))
    }

    async fn run(&mut self, op: &'static Operation) {
        let started = std::time::Instant::now();
        let mut row = Row {
            method: op.method,
            path: op.path,
            statuses: Vec::new(),
            failures: Vec::new(),
        };
        if let Err(e) = self.run_op(op, &mut row).await {
            row.failures.push(e);
        }
        if started.elapsed() > std::time::Duration::from_secs(2) {
            eprintln!(
                "slow: {} {} took {:?}",
                op.method,
                op.path,
                started.elapsed()
            );
        }
        self.rows.push(row);
    }

    async fn run_op(&mut self, op: &'static Operation, row: &mut Row) -> Result<(), String> {
        let spec_op = self
            .spec
            .operation(op.method, op.path)
            .ok_or("not in the spec or the overlay")?
            .clone();
        let responses = spec_op["responses"].clone();
        let listed = |s: u16| responses.get(s.to_string()).is_some();
        let query = self.query(&spec_op);
        let path = self.path(op, false)?;
        let body = self.body(op, &spec_op)?;
        let a = if op.operation_id == "post_entitlement_file" {
            self.send_file(&path).await?
        } else {
            self.send(op.method, &format!("{path}{query}"), body.as_ref())
                .await?
        };
        row.statuses.push(a.status);
        if !(200..300).contains(&a.status) || !listed(a.status) {
            return Err(format!(
                "{} {path}{query} answered {} (spec: {}): {}",
                op.method,
                a.status,
                responses
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default(),
                a.body
            ));
        }
        let content = &responses[a.status.to_string()]["content"];
        if let Some(schema) = content["application/json"].get("schema") {
            if !a.content_type.starts_with("application/json") {
                return Err(format!(
                    "content type `{}`, spec: application/json",
                    a.content_type
                ));
            }
            self.spec
                .check(schema, &a.body)
                .map_err(|e| format!("{} response: {e}", a.status))?;
            harvest(op, &a.body, &mut self.ids);
        } else if let Some(ct) = content.as_object().and_then(|o| o.keys().next()) {
            let base = ct.split(';').next().unwrap_or(ct);
            if !a.content_type.starts_with(base) {
                return Err(format!("content type `{}`, spec: {ct}", a.content_type));
            }
        }
        if !params(op).is_empty() && listed(404) && op.method != "DELETE" {
            let path = self.path(op, true)?;
            let a = if op.operation_id == "post_entitlement_file" {
                self.send_file(&path).await?
            } else {
                self.send(op.method, &path, body.as_ref()).await?
            };
            row.statuses.push(a.status);
            self.check_error(&a, 404, "unknown id")?;
        }
        if listed(401) && op.auth {
            let a = self
                .send_as(op.method, &self.path(op, false)?, body.as_ref(), false)
                .await?;
            row.statuses.push(a.status);
            self.check_error(&a, 401, "no API key")?;
        }
        if body.is_some() && listed(422) {
            let a = self
                .send(
                    op.method,
                    &self.path(op, false)?,
                    Some(&json!("not an object")),
                )
                .await?;
            row.statuses.push(a.status);
            self.check_error(&a, 422, "a body of the wrong type")?;
        }
        Ok(())
    }

    fn check_error(&self, a: &Answer, want: u16, case: &str) -> Result<(), String> {
        if a.status != want {
            return Err(format!(
                "{case}: answered {} (spec: {want}): {}",
                a.status, a.body
            ));
        }
        self.spec
            .check(&error_schema(), &a.body)
            .map_err(|e| format!("{case}: error body: {e}"))
    }

    /// A usage-based plan with a meter, subscribed to and used, so that answers carrying
    /// meters (subscriptions, usage history) are validated with content.
    async fn metered_subscription(&mut self) -> Result<(), String> {
        let meter = self
            .create(
                "/meters",
                json!({"name": "Calls", "event_name": "call",
                "measurement_unit": "call", "aggregation": {"type": "count"}}),
                "meter",
            )
            .await?;
        let product = self
            .create(
                "/products",
                json!({"name": "Metered", "tax_category": "saas",
                "price": {"type": "usage_based_price", "fixed_price": 1000, "currency": "USD",
                    "discount": 0, "purchasing_power_parity": false, "payment_frequency_count": 1,
                    "payment_frequency_interval": "Month", "subscription_period_count": 1,
                    "subscription_period_interval": "Year",
                    "meters": [{"meter_id": meter["id"], "free_threshold": 1,
                                "price_per_unit": "2.5"}]}}),
                "usage-based product",
            )
            .await?;
        let customer = self
            .create(
                "/customers",
                json!({"email": "metered@example.com",
                "name": "Metered"}),
                "customer",
            )
            .await?;
        let sub = self
            .create(
                "/subscriptions",
                json!({"product_id": product["product_id"],
                "quantity": 1, "customer": {"customer_id": customer["customer_id"]},
                "billing": {"country": "US"}}),
                "subscription",
            )
            .await?;
        let pay = sub["payment_id"].as_str().unwrap_or_default();
        self.send("POST", &format!("/_emulator/payments/{pay}/complete"), None)
            .await?;
        self.create("/events/ingest", json!({"events": [
                {"event_id": "metered_1", "customer_id": customer["customer_id"], "event_name": "call"},
                {"event_id": "metered_2", "customer_id": customer["customer_id"], "event_name": "call"}]}), "ingest").await?;
        if let Some(id) = sub["subscription_id"].as_str() {
            self.ids.set("subscription", id);
        }
        let to_block = self
            .create(
                "/customers",
                json!({"email": "blocked@example.com",
                "name": "To block"}),
                "customer to block",
            )
            .await?;
        if let Some(id) = to_block["customer_id"].as_str() {
            self.ids.set("blocked_customer", id);
        }
        Ok(())
    }

    /// Entitlements the crawl cannot make from the schema alone: a manual license-key
    /// entitlement on a product that was bought (so a `Pending` grant exists to fulfil and
    /// revoke), and a `digital_files` one to attach files to.
    async fn entitlement_objects(&mut self) -> Result<(), String> {
        let manual = self
            .create(
                "/entitlements",
                json!({"name": "Manual key",
                "integration_type": "license_key",
                "integration_config": {"fulfillment_mode": "manual"}}),
                "manual license-key entitlement",
            )
            .await?;
        let files = self
            .create(
                "/entitlements",
                json!({"name": "Files",
                "integration_type": "digital_files",
                "integration_config": {"digital_file_ids": []}}),
                "digital-files entitlement",
            )
            .await?;
        let product = self
            .create(
                "/products",
                json!({"name": "With a key",
                "tax_category": "saas", "entitlements": [{"entitlement_id": manual["id"]}],
                "price": {"type": "one_time_price", "price": 900, "currency": "USD",
                          "discount": 0, "purchasing_power_parity": false}}),
                "product with an entitlement",
            )
            .await?;
        let customer = self
            .create(
                "/customers",
                json!({"email": "granted@example.com",
                "name": "Granted"}),
                "customer",
            )
            .await?;
        let pay = self
            .create(
                "/payments",
                json!({
                "product_cart": [{"product_id": product["product_id"], "quantity": 1}],
                "customer": {"customer_id": customer["customer_id"]},
                "billing": {"country": "US"}}),
                "payment",
            )
            .await?;
        let pid = pay["payment_id"].as_str().unwrap_or_default();
        self.send("POST", &format!("/_emulator/payments/{pid}/complete"), None)
            .await?;
        let mid = manual["id"].as_str().unwrap_or_default().to_string();
        let grants = expect_2xx(
            self.send("GET", &format!("/entitlements/{mid}/grants"), None)
                .await?,
            "grants",
        )?;
        let grant = grants["items"][0]["id"]
            .as_str()
            .ok_or_else(|| format!("setup: the paid product made no grant: {grants}"))?;
        self.ids.set("entitlement", &mid);
        self.ids.set("entitlement_grant", grant);
        if let Some(f) = files["id"].as_str() {
            self.ids.set("files_entitlement", f);
        }
        // The receipt the payment mailed (where the emails group answers).
        let emails = self
            .send(
                "GET",
                &format!(
                    "/customers/{}/emails",
                    customer["customer_id"].as_str().unwrap_or_default()
                ),
                None,
            )
            .await?
            .body;
        if let (Some(c), Some(e)) = (
            customer["customer_id"].as_str(),
            emails["items"][0]["email_log_id"].as_str(),
        ) {
            self.ids.set("email_customer", c);
            self.ids.set("email", e);
        }
        let localized = self
            .create(
                "/products",
                json!({"name": "Localized",
                "tax_category": "saas", "pricing_mode": "by_currency",
                "price": {"type": "one_time_price", "price": 1000, "currency": "USD",
                          "discount": 0, "purchasing_power_parity": false}}),
                "product with a pricing mode",
            )
            .await?;
        if let Some(id) = localized["product_id"].as_str() {
            self.ids.set("localized_product", id);
        }
        Ok(())
    }

    /// Sends a request whose 2xx answer must match the spec's schema for that status.
    async fn checked(
        &self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let a = self.send(method, path, body).await?;
        let op = self
            .spec
            .operation(method, template)
            .ok_or_else(|| format!("{method} {template} is not in the spec"))?;
        let schema =
            &op["responses"][a.status.to_string()]["content"]["application/json"]["schema"];
        if !(200..300).contains(&a.status) || schema.is_null() {
            return Err(format!("{method} {path} answered {}: {}", a.status, a.body));
        }
        self.spec
            .check(schema, &a.body)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        Ok(a.body)
    }

    /// A product carrying credit entitlements, so that its mappings and the checkout
    /// preview's credit items are validated with content.
    async fn credit_product(&mut self) -> Result<(), String> {
        let ent = self
            .create(
                "/credit-entitlements",
                json!({"name": "Crawler credits", "unit": "credits", "precision": 2,
                "rollover_enabled": true, "overage_enabled": false}),
                "credit entitlement",
            )
            .await?;
        let body = json!({"name": "Credit pack", "tax_category": "saas",
            "price": {"type": "one_time_price", "price": 500, "currency": "USD", "discount": 0,
                      "purchasing_power_parity": false},
            "credit_entitlements": [{"credit_entitlement_id": ent["id"], "credits_amount": "12.5",
                                     "low_balance_threshold_percent": 10}]});
        let product = self
            .checked("POST", "/products", "/products", Some(&body))
            .await?;
        let id = product["product_id"].as_str().unwrap_or_default();
        let got = self
            .checked("GET", "/products/{id}", &format!("/products/{id}"), None)
            .await?;
        if got["credit_entitlements"].as_array().map(Vec::len) != Some(1) {
            return Err(format!("the product lost its credit entitlement: {got}"));
        }
        let preview = json!({"product_cart": [{"product_id": id, "quantity": 1,
            "credit_entitlements": [{"credit_entitlement_id": ent["id"], "credits_amount": "20"}]}]});
        let previewed = self
            .checked(
                "POST",
                "/checkouts/preview",
                "/checkouts/preview",
                Some(&preview),
            )
            .await?;
        if previewed["product_cart"][0]["credit_entitlements"][0]["credits_amount"] != "20" {
            return Err(format!("the preview lost the override: {previewed}"));
        }
        Ok(())
    }

    /// Objects only the platform makes, through the emulator's triggers.
    async fn platform_objects(&mut self) {
        let admin = self.emu.admin();
        for ty in [
            "subscription.active",
            "dispute.opened",
            "payout.success",
            "payment.failed",
            "payment.succeeded",
        ] {
            match admin.trigger(ty).await {
                Ok(t) => {
                    for (k, v) in &t.objects {
                        let Some(id) = v.as_str() else { continue };
                        match k.as_str() {
                            "product_id" if ty == "subscription.active" => {}
                            "plan_id" => self.ids.offer("plan", id),
                            k => {
                                if let Some((_, role)) = ID_FIELDS.iter().find(|(f, _)| *f == k) {
                                    // The settled payment of `payment.succeeded` is the one to refund.
                                    if ty == "payment.succeeded" && *role == "payment" {
                                        self.ids.set(role, id);
                                    } else if ty == "payment.failed" && *role == "payment" {
                                        self.ids.set("failed_payment", id);
                                    } else {
                                        self.ids.offer(role, id);
                                    }
                                }
                            }
                        }
                    }
                }
                Err(e) => self.rows.push(Row {
                    method: "TRIGGER",
                    path: "(setup)",
                    statuses: Vec::new(),
                    failures: vec![format!("trigger {ty}: {e}")],
                }),
            }
        }
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from("| method | path | statuses | result |\n|---|---|---|---|\n");
    for r in rows {
        let statuses = r
            .statuses
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let result = if r.failures.is_empty() {
            "ok".to_string()
        } else {
            let mut f = r.failures.join("; ").replace('|', "\\|").replace('\n', " ");
            f.truncate(200);
            format!("FAIL: {f}")
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {statuses} | {result} |",
            r.method, r.path
        );
    }
    out
}

const START: &str = "<!-- conformance:start -->";
const END: &str = "<!-- conformance:end -->";

fn write_readme(summary: &str, table: &str) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path).expect("README.md");
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        panic!("README.md lacks the {START} … {END} markers");
    };
    let new = format!("{}{START}\n{summary}\n\n{table}{}", &text[..a], &text[b..]);
    std::fs::write(&path, new).expect("write README.md");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_what_the_spec_says() {
    let emu = TestEmulator::start().await.expect("emulator starts");
    let mut crawl = Crawl {
        spec: Spec::load(),
        emu,
        http: reqwest::Client::new(),
        ids: Ids::default(),
        rows: Vec::new(),
    };
    crawl.platform_objects().await;
    if let Err(e) = crawl.entitlement_objects().await {
        crawl.rows.push(Row {
            method: "SETUP",
            path: "(entitlements)",
            statuses: Vec::new(),
            failures: vec![e],
        });
    }
    if let Err(e) = crawl.metered_subscription().await {
        crawl.rows.push(Row {
            method: "SETUP",
            path: "(metered subscription)",
            statuses: Vec::new(),
            failures: vec![e],
        });
    }
    if let Err(e) = crawl.credit_product().await {
        crawl.rows.push(Row {
            method: "SETUP",
            path: "(credit product)",
            statuses: Vec::new(),
            failures: vec![e],
        });
    }
    let mut ops: Vec<&'static Operation> = OPERATIONS.iter().collect();
    ops.sort_by_key(|o| order_key(o));
    for op in ops {
        crawl.run(op).await;
    }
    let failed: Vec<&Row> = crawl
        .rows
        .iter()
        .filter(|r| !r.failures.is_empty())
        .collect();
    let ops_total = OPERATIONS.len();
    let summary = format!(
        "{} of {ops_total} operations conform; {} mismatched.",
        ops_total
            - failed
                .iter()
                .filter(|r| !matches!(r.method, "TRIGGER" | "SETUP"))
                .count(),
        failed.len()
    );
    let table = table(&crawl.rows);
    println!("{table}\n{summary}");
    if std::env::var_os("DODO_CONFORMANCE_WRITE").is_some() {
        write_readme(&summary, &table);
    }
    crawl.emu.shutdown().await;
    assert!(
        failed.is_empty(),
        "{summary}\n{}",
        failed
            .iter()
            .map(|r| format!("{} {}: {}", r.method, r.path, r.failures.join("; ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
