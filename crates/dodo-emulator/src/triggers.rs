//! Triggers: `POST /_emulator/trigger/{event_type}` runs a scripted path that makes the
//! emulator emit that event through its own state machine, for each of the 48 event types.
//!
//! Paths that exist in the API go through the API's own operations, in-process
//! ([`crate::dispatch::invoke`]: the same typed validation and handlers, no HTTP): customers, products, payments settled as a test would,
//! refunds, subscriptions (create, pause, resume, cancel, change plan, update), license keys
//! from a license-enabled product. Renewals and on-hold use the virtual-clock renewal
//! ([`crate::timewarp::renew`]) on the subscription's due date without moving the clock.
//! What the API cannot drive is written to the store as the real backend would: disputes
//! (`dispute_opened`, then the asked status), payouts (created, then the status), credit
//! ledger entries, `credit.balance_low`, abandoned checkouts, dunning attempts, entitlement
//! grants, a refund the bank rejects (`refund.failed`), `past_due`/`expired` subscriptions
//! and a new payment method. The answer is `{"event_type", "objects": {...ids},
//! "events": [{id, type}]}` listing every event the path emitted (the asked one among them);
//! an unknown type answers 404 `UNKNOWN_EVENT_TYPE` with the list of known ones.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::clock;
use crate::dispatch::{self, AppState, error_response};
use crate::emit;
use crate::error::ApiError;
use crate::ids::new_id;
use crate::resources::common::kind;
use crate::resources::{Ctx, payments};
use crate::timewarp;

/// Every event type a trigger can produce (the 48 of the API, `subscription.past_due` included).
pub const EVENT_TYPES: [&str; 48] = [
    "payment.succeeded",
    "payment.failed",
    "payment.processing",
    "payment.cancelled",
    "refund.succeeded",
    "refund.failed",
    "dispute.opened",
    "dispute.expired",
    "dispute.accepted",
    "dispute.cancelled",
    "dispute.challenged",
    "dispute.won",
    "dispute.lost",
    "subscription.active",
    "subscription.renewed",
    "subscription.on_hold",
    "subscription.past_due",
    "subscription.paused",
    "subscription.unpaused",
    "subscription.cancelled",
    "subscription.failed",
    "subscription.expired",
    "subscription.plan_changed",
    "subscription.updated",
    "subscription.update_payment_method",
    "license_key.created",
    "payout.created",
    "payout.on_hold",
    "payout.in_progress",
    "payout.failed",
    "payout.success",
    "credit.added",
    "credit.deducted",
    "credit.expired",
    "credit.rolled_over",
    "credit.rollover_forfeited",
    "credit.overage_charged",
    "credit.overage_reset",
    "credit.manual_adjustment",
    "credit.balance_low",
    "abandoned_checkout.detected",
    "abandoned_checkout.recovered",
    "dunning.started",
    "dunning.recovered",
    "entitlement_grant.created",
    "entitlement_grant.delivered",
    "entitlement_grant.failed",
    "entitlement_grant.revoked",
];

/// Routes of the trigger admin API.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_emulator/trigger", get(list_types))
        .route("/_emulator/trigger/{event_type}", post(trigger))
}

async fn list_types() -> Json<Value> {
    Json(json!({ "event_types": EVENT_TYPES.as_slice() }))
}

async fn trigger(State(state): State<Arc<AppState>>, Path(ty): Path<String>) -> Response {
    if !EVENT_TYPES.contains(&ty.as_str()) {
        return error_response(&ApiError::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_EVENT_TYPE",
            format!(
                "unknown event type `{ty}`; known: {}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let before = state.store.read(|db| {
        db.conn()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM emu_events", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_or(0)
    });
    let mut t = Trigger {
        state: state.clone(),
        objects: Map::new(),
    };
    if let Err(e) = t.run(&ty).await {
        return error_response(&e);
    }
    let events = state.store.read(|db| {
        let mut stmt = db
            .conn()
            .prepare("SELECT id, type FROM emu_events WHERE seq > ?1 ORDER BY seq")?;
        stmt.query_map([before], |r| {
            Ok(json!({"id": r.get::<_, String>(0)?, "type": r.get::<_, String>(1)?}))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
    });
    match events {
        Ok(events) => {
            Json(json!({"event_type": ty, "objects": t.objects, "events": events})).into_response()
        }
        Err(e) => error_response(&ApiError::from(e)),
    }
}

struct Trigger {
    state: Arc<AppState>,
    objects: Map<String, Value>,
}

fn s(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_string()
}

impl Trigger {
    /// The emulator's current time, canonical.
    fn now(&self) -> String {
        self.state.store.clock().now_string()
    }

    fn note(&mut self, name: &str, id: &str) {
        self.objects.insert(name.into(), json!(id));
    }

    async fn api(&self, method: &str, path: &str, body: Value) -> Result<Value, ApiError> {
        dispatch::invoke(&self.state, method, path, &body).map(|r| r.json())
    }

    fn write<R>(&self, f: impl FnOnce(&Ctx<'_>) -> Result<R, ApiError>) -> Result<R, ApiError> {
        self.state.store.write(|db| {
            let ctx = Ctx {
                db,
                env: &self.state.env,
            };
            f(&ctx)
        })
    }

    async fn customer(&mut self) -> Result<Value, ApiError> {
        let email = format!("{}@trigger.example.com", new_id("buyer_").to_lowercase());
        let c = self
            .api(
                "POST",
                "/customers",
                json!({"email": email, "name": "Trigger Customer"}),
            )
            .await?;
        self.note("customer_id", &s(&c, "customer_id"));
        Ok(c)
    }

    async fn product(&mut self, recurring: bool, license: bool) -> Result<Value, ApiError> {
        let price = if recurring {
            json!({"type": "recurring_price", "price": 1500, "currency": "USD", "discount": 0,
                   "purchasing_power_parity": false, "payment_frequency_count": 1,
                   "payment_frequency_interval": "Month", "subscription_period_count": 1,
                   "subscription_period_interval": "Year"})
        } else {
            json!({"type": "one_time_price", "price": 2500, "currency": "USD", "discount": 0,
                   "purchasing_power_parity": false})
        };
        let mut body = json!({"name": if recurring { "Trigger plan" } else { "Trigger product" },
                              "tax_category": "saas", "price": price});
        if license {
            body["license_key_enabled"] = json!(true);
            body["license_key_activations_limit"] = json!(3);
        }
        let p = self.api("POST", "/products", body).await?;
        self.note(
            if recurring { "plan_id" } else { "product_id" },
            &s(&p, "product_id"),
        );
        Ok(p)
    }

    /// A one-time payment settled with `status` (`None` leaves it unsettled).
    async fn payment(&mut self, status: Option<&str>, license: bool) -> Result<String, ApiError> {
        let c = self.customer().await?;
        let p = self.product(false, license).await?;
        let created = self
            .api(
                "POST",
                "/payments",
                json!({"product_cart": [{"product_id": s(&p, "product_id"), "quantity": 1}],
                       "customer": {"customer_id": s(&c, "customer_id")},
                       "billing": {"country": "US"}}),
            )
            .await?;
        let id = s(&created, "payment_id");
        self.note("payment_id", &id);
        if let Some(st) = status {
            self.settle(&id, st)?;
        }
        Ok(id)
    }

    fn settle(&self, payment_id: &str, status: &str) -> Result<Value, ApiError> {
        self.write(|ctx| payments::complete(ctx, payment_id, status))
    }

    /// A subscription, settled with `status` (`succeeded` makes it active).
    async fn subscription(&mut self, status: &str) -> Result<Value, ApiError> {
        let c = self.customer().await?;
        let p = self.product(true, false).await?;
        let created = self
            .api(
                "POST",
                "/subscriptions",
                json!({"product_id": s(&p, "product_id"), "quantity": 1,
                       "customer": {"customer_id": s(&c, "customer_id")},
                       "billing": {"country": "US"}}),
            )
            .await?;
        let id = s(&created, "subscription_id");
        self.note("subscription_id", &id);
        self.settle(&s(&created, "payment_id"), status)?;
        self.api("GET", &format!("/subscriptions/{id}"), Value::Null)
            .await
    }

    async fn patch_sub(&self, id: &str, body: Value) -> Result<Value, ApiError> {
        self.api("PATCH", &format!("/subscriptions/{id}"), body)
            .await
    }

    /// Rewrites fields of a stored object (what the backend does where the API cannot).
    fn set(&self, kind: &str, id: &str, fields: Value) -> Result<Value, ApiError> {
        self.write(|ctx| {
            let mut r = ctx
                .db
                .get(kind, id)?
                .ok_or_else(|| ApiError::not_found(kind, id))?;
            if let (Some(o), Some(f)) = (r.data.as_object_mut(), fields.as_object()) {
                for (k, v) in f {
                    o.insert(k.clone(), v.clone());
                }
            }
            ctx.db.update(kind, id, &r.data)?;
            Ok(r.data)
        })
    }

    fn insert(
        &self,
        kind: &str,
        id: &str,
        parent: Option<&str>,
        data: &Value,
    ) -> Result<(), ApiError> {
        self.write(|ctx| {
            ctx.db.insert(kind, id, parent, &ctx.now_string(), data)?;
            Ok(())
        })
    }

    /// An active subscription whose renewal charge fails: on hold, dunning started.
    async fn on_hold(&mut self) -> Result<Value, ApiError> {
        let sub = self.subscription("succeeded").await?;
        let id = s(&sub, "subscription_id");
        self.write(|ctx| {
            timewarp::set_fail_renewals(ctx.db, &id, true)?;
            let due = s(&sub, "next_billing_date");
            timewarp::renew(ctx, &sub, &due)
        })?;
        Ok(sub)
    }

    async fn run(&mut self, ty: &str) -> Result<(), ApiError> {
        let (group, what) = ty.split_once('.').unwrap_or((ty, ""));
        match group {
            "payment" => {
                self.payment(Some(what), false).await?;
            }
            "refund" => {
                let pay = self.payment(Some("succeeded"), false).await?;
                let r = self
                    .api(
                        "POST",
                        "/refunds",
                        json!({"payment_id": pay, "reason": "Triggered"}),
                    )
                    .await?;
                let id = s(&r, "refund_id");
                self.note("refund_id", &id);
                if what == "failed" {
                    // The bank rejected the refund after it was accepted.
                    self.set(kind::REFUND, &id, json!({"status": "failed"}))?;
                }
            }
            "dispute" => self.dispute(what).await?,
            "subscription" => self.subscription_path(what).await?,
            "license_key" => {
                self.payment(Some("succeeded"), true).await?;
            }
            "payout" => self.payout(what).await?,
            "credit" => self.credit(what).await?,
            "abandoned_checkout" => {
                let pay = self.payment(Some("failed"), false).await?;
                let c = self.objects["customer_id"].clone();
                let id = new_id("ach_");
                let data = json!({"payment_id": pay, "customer_id": c, "brand_id": self.brand()?,
                                  "abandonment_reason": "payment_failed", "status": "abandoned",
                                  "abandoned_at": self.now(), "recovered_payment_id": null});
                self.insert(emit::ABANDONED_CHECKOUT, &id, None, &data)?;
                self.note("abandoned_checkout_id", &id);
                if what == "recovered" {
                    let recovered = self.payment(Some("succeeded"), false).await?;
                    self.set(
                        emit::ABANDONED_CHECKOUT,
                        &id,
                        json!({"status": "recovered", "recovered_payment_id": recovered}),
                    )?;
                }
            }
            "dunning" => {
                let sub = self.on_hold().await?;
                let id = s(&sub, "subscription_id");
                if what == "recovered" {
                    let dunning = self.write(|ctx| {
                        Ok(ctx
                            .db
                            .find_one(
                                emit::DUNNING_ATTEMPT,
                                &[crate::store::Filter::Eq(
                                    "$.subscription_id",
                                    rusqlite::types::Value::Text(id.clone()),
                                )],
                            )?
                            .map(|r| r.id))
                    })?;
                    if let Some(d) = dunning {
                        self.set(kind::SUBSCRIPTION, &id, json!({"status": "active"}))?;
                        self.set(emit::DUNNING_ATTEMPT, &d, json!({"status": "recovered"}))?;
                    }
                }
            }
            "entitlement_grant" => {
                let c = self.customer().await?;
                let cid = s(&c, "customer_id");
                let id = new_id("entg_");
                let now = self.now();
                let data = json!({"id": id, "business_id": self.state.env.business_id,
                    "brand_id": self.brand()?, "customer_id": cid, "entitlement_id": new_id("ent_"),
                    "status": "Pending", "metadata": {}, "external_id": "", "integration_type": "feature_flag", "payment_id": null, "subscription_id": null, "created_at": now, "updated_at": now});
                self.insert(emit::ENTITLEMENT_GRANT, &id, Some(&cid), &data)?;
                self.note("entitlement_grant_id", &id);
                let fields = match what {
                    "delivered" => Some(json!({"status": "Delivered", "delivered_at": now})),
                    "failed" => Some(json!({"status": "Failed", "error_code": "DELIVERY_FAILED",
                                            "error_message": "The integration rejected the grant (emulated)."})),
                    "revoked" => Some(json!({"status": "Revoked", "revoked_at": now,
                                             "revocation_reason": "Triggered"})),
                    _ => None,
                };
                if let Some(f) = fields {
                    self.set(emit::ENTITLEMENT_GRANT, &id, f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn brand(&self) -> Result<String, ApiError> {
        self.write(crate::resources::brands::default_brand_id)
    }

    async fn dispute(&mut self, what: &str) -> Result<(), ApiError> {
        use crate::resources::disputes;
        let pay = self.payment(Some("succeeded"), false).await?;
        let d = self.write(|ctx| disputes::open(ctx, &pay, "fraudulent"))?;
        let id = s(&d, "dispute_id");
        self.note("dispute_id", &id);
        if matches!(what, "won" | "lost") {
            self.write(|ctx| disputes::set_status(ctx, &id, "dispute_challenged"))?;
        }
        if what != "opened" {
            let status = format!("dispute_{what}");
            self.write(|ctx| disputes::set_status(ctx, &id, &status))?;
        }
        Ok(())
    }

    /// A payout of what has settled, computed by the domain layer (a succeeded payment first,
    /// so that there is money to pay out).
    async fn payout(&mut self, what: &str) -> Result<(), ApiError> {
        self.payment(Some("succeeded"), false).await?;
        let payout = self.write(crate::resources::payouts::create_payout)?;
        let id = s(&payout, "payout_id");
        self.note("payout_id", &id);
        if what != "created" {
            if matches!(what, "success" | "failed") {
                self.set(emit::PAYOUT, &id, json!({"status": "in_progress"}))?;
            }
            let mut change = json!({"status": what, "updated_at": self.now()});
            if what == "success" {
                change["payout_document_url"] =
                    json!(self.write(|ctx| Ok(crate::resources::payouts::document_url(ctx, &id)))?);
            }
            self.set(emit::PAYOUT, &id, change)?;
        }
        Ok(())
    }

    async fn credit(&mut self, what: &str) -> Result<(), ApiError> {
        let c = self.customer().await?;
        let cid = s(&c, "customer_id");
        let brand = self.brand()?;
        let ent = new_id("cent_");
        if what == "balance_low" {
            let sub = self.subscription("succeeded").await?;
            let id = new_id("cbl_");
            let data = json!({
                "customer_id": sub["customer"]["customer_id"], "subscription_id": sub["subscription_id"],
                "credit_entitlement_id": ent, "credit_entitlement_name": "API credits",
                "available_balance": "80", "subscription_credits_amount": "1000",
                "threshold_amount": "100", "threshold_percent": 10, "brand_id": brand,
            });
            self.insert(emit::CREDIT_BALANCE_LOW, &id, None, &data)?;
            return Ok(());
        }
        let (tt, is_credit, reference) = match what {
            "added" => ("credit_added", true, None),
            "deducted" => ("credit_deducted", false, None),
            "expired" => ("credit_expired", false, None),
            "rolled_over" => ("credit_rolled_over", true, None),
            "rollover_forfeited" => ("rollover_forfeited", false, None),
            "overage_charged" => ("overage_charged", false, None),
            "overage_reset" => ("overage_reset", true, None),
            _ => ("credit_added", true, Some("manual_adjustment")),
        };
        let id = new_id("cle_");
        let data = json!({
            "id": id, "business_id": self.state.env.business_id, "brand_id": brand,
            "customer_id": cid, "credit_entitlement_id": ent, "transaction_type": tt,
            "is_credit": is_credit, "amount": "100", "balance_before": "500",
            "balance_after": if is_credit { "600" } else { "400" },
            "overage_before": "0", "overage_after": "0", "description": format!("Triggered {what}"),
            "grant_id": null, "reference_id": null, "reference_type": reference, "metadata": {},
            "created_at": self.now(),
        });
        self.insert(emit::CREDIT_LEDGER_ENTRY, &id, Some(&cid), &data)?;
        self.note("credit_ledger_entry_id", &id);
        Ok(())
    }

    async fn subscription_path(&mut self, what: &str) -> Result<(), ApiError> {
        match what {
            "failed" => {
                self.subscription("failed").await?;
            }
            "on_hold" => {
                self.on_hold().await?;
            }
            "renewed" => {
                let sub = self.subscription("succeeded").await?;
                self.write(|ctx| timewarp::renew(ctx, &sub, &s(&sub, "next_billing_date")))?;
            }
            _ => {
                let sub = self.subscription("succeeded").await?;
                let id = s(&sub, "subscription_id");
                match what {
                    "paused" => {
                        self.patch_sub(&id, json!({"status": "paused"})).await?;
                    }
                    "unpaused" => {
                        self.patch_sub(&id, json!({"status": "paused"})).await?;
                        self.patch_sub(&id, json!({"status": "active"})).await?;
                    }
                    "cancelled" => {
                        self.patch_sub(&id, json!({"status": "cancelled"})).await?;
                    }
                    "updated" => {
                        self.patch_sub(
                            &id,
                            json!({"metadata": {"triggered": "subscription.updated"}}),
                        )
                        .await?;
                    }
                    "plan_changed" => {
                        let other = self.product(true, false).await?;
                        self.api(
                            "POST",
                            &format!("/subscriptions/{id}/change-plan"),
                            json!({"product_id": s(&other, "product_id"), "quantity": 1,
                                   "proration_billing_mode": "prorated_immediately"}),
                        )
                        .await?;
                    }
                    "past_due" => {
                        let ends =
                            clock::format(self.state.store.clock().now() + time::Duration::days(7));
                        self.set(
                            kind::SUBSCRIPTION,
                            &id,
                            json!({"status": "past_due", "past_due_ends_at": ends}),
                        )?;
                    }
                    "expired" => {
                        self.set(
                            kind::SUBSCRIPTION,
                            &id,
                            json!({"status": "expired", "expires_at": self.now()}),
                        )?;
                    }
                    "update_payment_method" => {
                        // The subscription starts on the card its first payment saved; the
                        // trigger takes it off, then puts it back through the API.
                        self.set(kind::SUBSCRIPTION, &id, json!({"payment_method_id": null}))?;
                        let cid = s(&sub["customer"], "customer_id");
                        let pms = self
                            .api(
                                "GET",
                                &format!("/customers/{cid}/payment-methods"),
                                Value::Null,
                            )
                            .await?;
                        let pm = s(&pms["items"][0], "payment_method_id");
                        self.api(
                            "POST",
                            &format!("/subscriptions/{id}/update-payment-method"),
                            json!({"type": "existing", "payment_method_id": pm}),
                        )
                        .await?;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
