//! End-to-end tests of the dispatcher: signed bodies in, outcomes out.

mod common;

use std::sync::{Arc, Mutex};

use common::{NOW, examples, signed, verifier};
use dodo_webhooks::{
    Begin, BoxError, BoxFuture, Context, Dispatcher, Disposition, EventPayload, EventType, Flow,
    HandlerErrorPolicy, IdempotencyGuard, MemoryIdempotency, Outcome, Stage, WebhookEvent,
};
use serde_json::{Value, json};

/// Application state for tests: a shared log of what ran.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn dispatcher(rec: &Recorder) -> Dispatcher<Recorder> {
    Dispatcher::new(verifier(), rec.clone())
}

fn example(event_type: &str) -> String {
    examples()
        .into_iter()
        .find(|(t, _)| t == event_type)
        .map(|(_, body)| body)
        .unwrap_or_else(|| panic!("no example for {event_type}"))
}

async fn deliver(d: &Dispatcher<Recorder>, id: &str, body: &str) -> Outcome {
    let headers = signed(id, body.as_bytes());
    d.process(&headers, body.as_bytes()).await
}

const UNKNOWN_BODY: &str = r#"{"type":"widget.exploded","business_id":"bus_1","timestamp":"2025-08-04T05:30:45Z","data":{"widget_id":"w_1","pieces":[1,2,3]}}"#;

macro_rules! register_all {
    ($d:expr; $( $on:ident => $variant:ident ),* $(,)?) => {{
        let mut d = $d;
        let mut count = 0;
        $(
            d = d.$on(|ctx: Context<Recorder>, _data| async move {
                ctx.state.push(format!(
                    "{} via {} for {}",
                    EventType::$variant.as_str(),
                    stringify!($on),
                    ctx.event_type
                ));
                Ok(())
            });
            count += 1;
        )*
        (d, count)
    }};
}

#[tokio::test]
async fn each_of_the_48_types_reaches_its_typed_handler() {
    let rec = Recorder::default();
    let (d, registered) = register_all!(dispatcher(&rec);
        on_payment_succeeded => PaymentSucceeded,
        on_payment_failed => PaymentFailed,
        on_payment_processing => PaymentProcessing,
        on_payment_cancelled => PaymentCancelled,
        on_refund_succeeded => RefundSucceeded,
        on_refund_failed => RefundFailed,
        on_dispute_opened => DisputeOpened,
        on_dispute_expired => DisputeExpired,
        on_dispute_accepted => DisputeAccepted,
        on_dispute_cancelled => DisputeCancelled,
        on_dispute_challenged => DisputeChallenged,
        on_dispute_won => DisputeWon,
        on_dispute_lost => DisputeLost,
        on_subscription_active => SubscriptionActive,
        on_subscription_renewed => SubscriptionRenewed,
        on_subscription_on_hold => SubscriptionOnHold,
        on_subscription_past_due => SubscriptionPastDue,
        on_subscription_paused => SubscriptionPaused,
        on_subscription_unpaused => SubscriptionUnpaused,
        on_subscription_cancelled => SubscriptionCancelled,
        on_subscription_failed => SubscriptionFailed,
        on_subscription_expired => SubscriptionExpired,
        on_subscription_plan_changed => SubscriptionPlanChanged,
        on_subscription_updated => SubscriptionUpdated,
        on_subscription_update_payment_method => SubscriptionUpdatePaymentMethod,
        on_license_key_created => LicenseKeyCreated,
        on_payout_created => PayoutCreated,
        on_payout_on_hold => PayoutOnHold,
        on_payout_in_progress => PayoutInProgress,
        on_payout_failed => PayoutFailed,
        on_payout_success => PayoutSuccess,
        on_credit_added => CreditAdded,
        on_credit_deducted => CreditDeducted,
        on_credit_expired => CreditExpired,
        on_credit_rolled_over => CreditRolledOver,
        on_credit_rollover_forfeited => CreditRolloverForfeited,
        on_credit_overage_charged => CreditOverageCharged,
        on_credit_overage_reset => CreditOverageReset,
        on_credit_manual_adjustment => CreditManualAdjustment,
        on_credit_balance_low => CreditBalanceLow,
        on_abandoned_checkout_detected => AbandonedCheckoutDetected,
        on_abandoned_checkout_recovered => AbandonedCheckoutRecovered,
        on_dunning_started => DunningStarted,
        on_dunning_recovered => DunningRecovered,
        on_entitlement_grant_created => EntitlementGrantCreated,
        on_entitlement_grant_delivered => EntitlementGrantDelivered,
        on_entitlement_grant_failed => EntitlementGrantFailed,
        on_entitlement_grant_revoked => EntitlementGrantRevoked,
    );
    assert_eq!(registered, 48);
    for t in EventType::ALL {
        assert!(d.has_handler(t), "{t}");
    }

    let all = examples();
    assert_eq!(all.len(), 48);
    for (i, (event_type, body)) in all.iter().enumerate() {
        let outcome = deliver(&d, &format!("msg_{i}"), body).await;
        assert_eq!(outcome.status, 200, "{event_type}: {:?}", outcome.error);
        assert_eq!(outcome.disposition, Disposition::Delivered, "{event_type}");
        assert_eq!(outcome.event_type, Some(EventType::parse(event_type)));
        let t = EventType::parse(event_type);
        let expected_method = format!("on_{}", t.as_str().replace('.', "_"));
        assert_eq!(
            rec.take(),
            vec![format!(
                "{event_type} via {expected_method} for {event_type}"
            )],
            "{event_type}"
        );
        assert_eq!(
            outcome.body,
            json!({"received": true, "id": format!("msg_{i}"), "type": event_type, "status": "delivered"})
        );
    }
}

#[tokio::test]
async fn unknown_and_unhandled_types_are_acknowledged() {
    let rec = Recorder::default();
    let d = dispatcher(&rec);
    let outcome = deliver(&d, "msg_u", UNKNOWN_BODY).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.disposition, Disposition::Unhandled);
    assert_eq!(
        outcome.event_type,
        Some(EventType::Unknown("widget.exploded".into()))
    );
    assert_eq!(outcome.body["status"], "unhandled");

    let outcome = deliver(&d, "msg_p", &example("payment.succeeded")).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.disposition, Disposition::Unhandled);

    // A generic handler for an unknown type sees the raw data.
    let d = dispatcher(&rec).on(
        EventType::Unknown("widget.exploded".into()),
        |ctx: Context<Recorder>, event: WebhookEvent| async move {
            match event.payload {
                EventPayload::Unknown { event_type, data } => {
                    ctx.state.push(format!("{event_type} {}", data.get()));
                }
                other => panic!("unexpected {other:?}"),
            }
            Ok(json!({"stored": true}))
        },
    );
    let outcome = deliver(&d, "msg_u2", UNKNOWN_BODY).await;
    assert_eq!(outcome.disposition, Disposition::Delivered);
    assert_eq!(outcome.output, Some(json!({"stored": true})));
    assert_eq!(
        rec.take(),
        vec![r#"widget.exploded {"widget_id":"w_1","pieces":[1,2,3]}"#.to_owned()]
    );
}

#[tokio::test]
async fn verification_failures_are_401_without_running_anything() {
    let rec = Recorder::default();
    let d = dispatcher(&rec)
        .before("*", |ctx: Context<Recorder>, event| async move {
            ctx.state.push("before");
            Ok(Flow::next(event))
        })
        .on_payload(|ctx: Context<Recorder>, _| async move {
            ctx.state.push("payload");
            Ok(())
        });
    let body = example("payment.succeeded");
    let headers = signed("msg_1", body.as_bytes());

    // Tampered body.
    let tampered = body.replacen("400", "401", 1);
    let outcome = d.process(&headers, tampered.as_bytes()).await;
    assert_eq!(outcome.status, 401);
    assert_eq!(outcome.disposition, Disposition::Rejected);
    assert_eq!(
        outcome.body,
        json!({"error": {"code": "invalid_signature", "message": "no matching signature found"}})
    );
    assert_eq!(outcome.error.as_ref().unwrap().stage, Stage::Verify);
    assert!(outcome.webhook_id.is_none());

    // Re-serialised (compact) body with the original signature fails too.
    let compact = serde_json::to_string(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    assert_ne!(pretty, body);
    let outcome = d.process(&headers, pretty.as_bytes()).await;
    assert_eq!(outcome.status, 401);
    let _ = compact;

    // Missing header and stale timestamp.
    let missing = [
        ("webhook-id", "msg_1"),
        ("webhook-signature", headers.signature.as_str()),
    ];
    let outcome = d.process(&missing, body.as_bytes()).await;
    assert_eq!(outcome.status, 401);
    assert_eq!(outcome.body["error"]["code"], "missing_header");
    let stale = verifier().signed_headers("msg_1", NOW - 301, body.as_bytes());
    let outcome = d.process(&stale, body.as_bytes()).await;
    assert_eq!(outcome.status, 401);
    assert_eq!(outcome.body["error"]["code"], "timestamp_too_old");

    assert!(rec.take().is_empty(), "no hook or handler may run");

    // A pretty-printed body that was signed as sent verifies and dispatches.
    let outcome = deliver(&d, "msg_pretty", &pretty).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(rec.take(), vec!["before", "payload"]);
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let rec = Recorder::default();
    let d = dispatcher(&rec);
    for (body, code) in [
        ("not json", "invalid_json"),
        ("{\"type\": \"payment.succeeded\"", "invalid_json"),
        (
            r#"{"type":"payment.succeeded","data":{}}"#,
            "invalid_envelope",
        ),
        (
            r#"{"type":"payment.succeeded","business_id":"b","timestamp":"yesterday","data":{}}"#,
            "invalid_envelope",
        ),
        ("[1,2]", "invalid_envelope"),
        (
            r#"{"type":"payment.succeeded","business_id":"b","timestamp":"2025-08-04T05:30:45Z","data":{"payment_id":5}}"#,
            "invalid_data",
        ),
    ] {
        let outcome = deliver(&d, "msg_bad", body).await;
        assert_eq!(outcome.status, 400, "{body}");
        assert_eq!(outcome.disposition, Disposition::Rejected);
        assert_eq!(outcome.body["error"]["code"], code, "{body}");
        assert_eq!(outcome.webhook_id.as_deref(), Some("msg_bad"));
        let error = outcome.error.unwrap();
        assert_eq!(error.stage, Stage::Parse);
        assert!(!error.detail.is_empty());
    }
    // Non-UTF-8 body, correctly signed.
    let body = b"{\"type\": \"\xff\"}";
    let headers = signed("msg_bin", body);
    let outcome = d.process(&headers, body).await;
    assert_eq!(outcome.status, 400);
    assert_eq!(outcome.body["error"]["code"], "invalid_json");
}

#[tokio::test]
async fn before_can_change_the_event_and_pass_a_value_to_after() {
    let rec = Recorder::default();
    let d = dispatcher(&rec)
        .before(
            "payments.succeeded",
            |ctx: Context<Recorder>, mut event: WebhookEvent| async move {
                ctx.state.push(format!("before1 {}", ctx.business_id));
                event.business_id = "bus_rewritten".into();
                Ok(Flow::next_with(event, json!({"trace": 7})))
            },
        )
        .before(
            EventType::PaymentSucceeded,
            |ctx: Context<Recorder>, event| async move {
                ctx.state.push(format!("before2 {}", ctx.business_id));
                Ok(Flow::next(event))
            },
        )
        .before("refunds", |ctx: Context<Recorder>, event| async move {
            ctx.state.push("refund hook");
            Ok(Flow::next(event))
        })
        .on_payment_succeeded(|ctx: Context<Recorder>, payment| async move {
            ctx.state.push(format!("handler {}", ctx.business_id));
            let _ = payment;
            Ok(json!({"handled": ctx.webhook_id}))
        })
        .after(
            "payments",
            |ctx: Context<Recorder>, outcome: Outcome, pass: Option<Value>| async move {
                ctx.state.push(format!(
                    "after {:?} {} {}",
                    outcome.disposition,
                    outcome.output.unwrap_or_default(),
                    pass.unwrap_or_default()
                ));
                Ok(())
            },
        );
    let outcome = deliver(&d, "msg_b", &example("payment.succeeded")).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.disposition, Disposition::Delivered);
    assert_eq!(outcome.output, Some(json!({"handled": "msg_b"})));
    assert_eq!(outcome.pass_along, Some(json!({"trace": 7})));
    assert_eq!(
        rec.take(),
        vec![
            "before1 bus_P3SXLcppjXgagmHS",
            "before2 bus_rewritten",
            "handler bus_rewritten",
            r#"after Delivered {"handled":"msg_b"} {"trace":7}"#,
        ]
    );
}

#[tokio::test]
async fn before_can_replace_the_payload_and_routing_follows() {
    let rec = Recorder::default();
    let d = dispatcher(&rec)
        .before(
            "payments.failed",
            |_ctx: Context<Recorder>, mut event: WebhookEvent| async move {
                if let EventPayload::PaymentFailed(p) = event.payload {
                    event.payload = EventPayload::PaymentCancelled(p);
                }
                Ok(Flow::next(event))
            },
        )
        .on_payment_failed(|ctx: Context<Recorder>, _| async move {
            ctx.state.push("failed handler");
            Ok(())
        })
        .on_payment_cancelled(|ctx: Context<Recorder>, _| async move {
            ctx.state
                .push(format!("cancelled handler {}", ctx.event_type));
            Ok(())
        });
    let outcome = deliver(&d, "msg_r", &example("payment.failed")).await;
    assert_eq!(outcome.event_type, Some(EventType::PaymentCancelled));
    assert_eq!(rec.take(), vec!["cancelled handler payment.cancelled"]);
}

#[tokio::test]
async fn skip_acknowledges_and_after_sees_the_pass_value() {
    let rec = Recorder::default();
    let d = dispatcher(&rec)
        .before("*", |_ctx: Context<Recorder>, _event| async move {
            Ok(Flow::skip_with("test-mode event"))
        })
        .before("*", |ctx: Context<Recorder>, event| async move {
            ctx.state.push("second before");
            Ok(Flow::next(event))
        })
        .on_payload(|ctx: Context<Recorder>, _| async move {
            ctx.state.push("payload");
            Ok(())
        })
        .on_refund_succeeded(|ctx: Context<Recorder>, _| async move {
            ctx.state.push("handler");
            Ok(())
        })
        .after(
            "*",
            |ctx: Context<Recorder>, outcome: Outcome, pass: Option<Value>| async move {
                ctx.state
                    .push(format!("after {} {:?}", outcome.body["status"], pass));
                Ok(())
            },
        );
    let outcome = deliver(&d, "msg_s", &example("refund.succeeded")).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.disposition, Disposition::Skipped);
    assert_eq!(outcome.body["status"], "skipped");
    assert_eq!(outcome.pass_along, Some(json!("test-mode event")));
    assert_eq!(
        rec.take(),
        vec![r#"after "skipped" Some(String("test-mode event"))"#]
    );
}

#[tokio::test]
async fn on_payload_runs_first_and_its_error_stops_the_handler() {
    let rec = Recorder::default();
    let ok = dispatcher(&rec)
        .on_payload(|ctx: Context<Recorder>, event: WebhookEvent| async move {
            ctx.state.push(format!("payload {}", event.event_type()));
            Ok(())
        })
        .on_dispute_won(|ctx: Context<Recorder>, _| async move {
            ctx.state.push("handler");
            Ok(())
        });
    let outcome = deliver(&ok, "msg_1", &example("dispute.won")).await;
    assert_eq!(outcome.disposition, Disposition::Delivered);
    assert_eq!(rec.take(), vec!["payload dispute.won", "handler"]);

    // Only the catch-all: delivered (not unhandled).
    let outcome = deliver(&ok, "msg_2", UNKNOWN_BODY).await;
    assert_eq!(outcome.disposition, Disposition::Delivered);
    assert_eq!(rec.take(), vec!["payload widget.exploded"]);

    let failing = dispatcher(&rec)
        .on_payload(|_ctx: Context<Recorder>, _| async move { Err::<(), _>("db down".into()) })
        .on_dispute_won(|ctx: Context<Recorder>, _| async move {
            ctx.state.push("handler");
            Ok(())
        });
    let outcome = deliver(&failing, "msg_3", &example("dispute.won")).await;
    assert_eq!(outcome.status, 500);
    assert_eq!(outcome.disposition, Disposition::Failed);
    let error = outcome.error.as_ref().unwrap();
    assert_eq!(error.stage, Stage::OnPayload);
    assert_eq!(error.detail, "db down");
    assert!(rec.take().is_empty());
    // The internal detail is not sent to the caller.
    assert!(!outcome.body.to_string().contains("db down"));
    assert_eq!(outcome.body["error"]["code"], "handler_failed");
}

#[tokio::test]
async fn handler_errors_follow_the_policy_and_skip_after_hooks() {
    let rec = Recorder::default();
    let build = |policy| {
        dispatcher(&rec)
            .handler_error_policy(policy)
            .on_payout_failed(|_ctx: Context<Recorder>, _| async move {
                Err::<(), BoxError>("payout ledger unavailable".into())
            })
            .after(
                "*",
                |ctx: Context<Recorder>, _o: Outcome, _p: Option<Value>| async move {
                    ctx.state.push("after");
                    Ok(())
                },
            )
    };
    let outcome = deliver(
        &build(HandlerErrorPolicy::Retry),
        "m1",
        &example("payout.failed"),
    )
    .await;
    assert_eq!(outcome.status, 500);
    assert_eq!(outcome.disposition, Disposition::Failed);
    assert_eq!(
        outcome.body,
        json!({"error": {"code": "handler_failed", "message": "the webhook handler failed"}})
    );

    let outcome = deliver(
        &build(HandlerErrorPolicy::Acknowledge),
        "m2",
        &example("payout.failed"),
    )
    .await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.disposition, Disposition::Failed);
    assert_eq!(outcome.body["status"], "failed");
    assert_eq!(outcome.error.unwrap().detail, "payout ledger unavailable");
    assert!(
        rec.take().is_empty(),
        "after hooks do not run after a failure"
    );
}

#[tokio::test]
async fn panics_are_contained() {
    let rec = Recorder::default();
    let d = dispatcher(&rec)
        .on_credit_added(|_ctx: Context<Recorder>, _| async move {
            if true {
                panic!("handler exploded");
            }
            Ok(())
        })
        .before(
            "credits.deducted",
            |_ctx: Context<Recorder>, _event| async move {
                let v: Vec<u8> = Vec::new();
                let _ = v[3];
                Ok(Flow::skip())
            },
        )
        .on_credit_expired(|_ctx: Context<Recorder>, _| async move { Ok(()) })
        .after(
            "credits.expired",
            |_ctx: Context<Recorder>, _o: Outcome, _p: Option<Value>| async move {
                panic!("after exploded");
                #[allow(unreachable_code)]
                Ok(())
            },
        );

    let outcome = deliver(&d, "m1", &example("credit.added")).await;
    assert_eq!(outcome.status, 500);
    let error = outcome.error.unwrap();
    assert!(error.panicked);
    assert_eq!(error.stage, Stage::Handler);
    assert_eq!(error.detail, "panic: handler exploded");

    let outcome = deliver(&d, "m2", &example("credit.deducted")).await;
    assert_eq!(outcome.status, 500);
    let error = outcome.error.unwrap();
    assert!(error.panicked);
    assert_eq!(error.stage, Stage::Before);
    assert_eq!(error.code, "before_hook_failed");

    let outcome = deliver(&d, "m3", &example("credit.expired")).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.disposition, Disposition::Delivered);
    assert_eq!(outcome.warnings.len(), 1);
    assert_eq!(outcome.warnings[0].stage, Stage::After);
    assert!(outcome.warnings[0].panicked);
    assert_eq!(outcome.warnings[0].detail, "panic: after exploded");
}

#[tokio::test]
async fn a_handler_panicking_synchronously_is_contained() {
    let rec = Recorder::default();
    let d = dispatcher(&rec).on(
        EventType::DunningStarted,
        |_ctx: Context<Recorder>, _event| {
            panic!("before returning a future");
            #[allow(unreachable_code)]
            async move {
                Ok(())
            }
        },
    );
    let outcome = deliver(&d, "m", &example("dunning.started")).await;
    assert_eq!(outcome.status, 500);
    assert!(outcome.error.unwrap().panicked);
}

#[tokio::test]
async fn duplicates_run_once_and_failures_run_again() {
    let rec = Recorder::default();
    let fail_next = Arc::new(Mutex::new(true));
    let flag = fail_next.clone();
    let d = dispatcher(&rec)
        .idempotency(MemoryIdempotency::new())
        .before("*", |ctx: Context<Recorder>, event| async move {
            ctx.state.push("before");
            Ok(Flow::next(event))
        })
        .on_license_key_created(|ctx: Context<Recorder>, _| async move {
            ctx.state.push(format!("handler {}", ctx.webhook_id));
            Ok(())
        })
        .on_refund_failed(move |ctx: Context<Recorder>, _| {
            let flag = flag.clone();
            async move {
                ctx.state.push("refund handler");
                let fail = std::mem::replace(&mut *flag.lock().unwrap(), false);
                if fail {
                    Err::<(), BoxError>("transient".into())
                } else {
                    Ok(())
                }
            }
        })
        .after(
            "*",
            |ctx: Context<Recorder>, _o: Outcome, _p: Option<Value>| async move {
                ctx.state.push("after");
                Ok(())
            },
        );

    let body = example("license_key.created");
    let first = deliver(&d, "msg_dup", &body).await;
    assert_eq!(first.disposition, Disposition::Delivered);
    let second = deliver(&d, "msg_dup", &body).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.disposition, Disposition::Duplicate);
    assert_eq!(second.body["status"], "duplicate");
    // Answered from the guard before parsing the data; the type still comes from the body.
    assert_eq!(second.body["type"], "license_key.created");
    assert_eq!(second.event_type, Some(EventType::LicenseKeyCreated));
    assert_eq!(rec.take(), vec!["before", "handler msg_dup", "after"]);

    let body = example("refund.failed");
    let failed = deliver(&d, "msg_retry", &body).await;
    assert_eq!(failed.status, 500);
    let retried = deliver(&d, "msg_retry", &body).await;
    assert_eq!(retried.status, 200);
    assert_eq!(retried.disposition, Disposition::Delivered);
    let third = deliver(&d, "msg_retry", &body).await;
    assert_eq!(third.disposition, Disposition::Duplicate);
    assert_eq!(
        rec.take(),
        vec![
            "before",
            "refund handler",
            "before",
            "refund handler",
            "after"
        ]
    );

    // Skipped deliveries count as processed.
    let skipper = dispatcher(&rec)
        .idempotency(MemoryIdempotency::new())
        .before("*", |ctx: Context<Recorder>, _| async move {
            ctx.state.push("skip");
            Ok(Flow::skip())
        });
    let body = example("payout.created");
    assert_eq!(
        deliver(&skipper, "s", &body).await.disposition,
        Disposition::Skipped
    );
    assert_eq!(
        deliver(&skipper, "s", &body).await.disposition,
        Disposition::Duplicate
    );
    assert_eq!(rec.take(), vec!["skip"]);
}

/// A guard that logs its calls and delegates to a `MemoryIdempotency`.
#[derive(Clone, Default)]
struct LoggingGuard {
    calls: Arc<Mutex<Vec<String>>>,
    inner: Arc<MemoryIdempotency>,
}

impl IdempotencyGuard for LoggingGuard {
    fn begin<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Begin, BoxError>> {
        self.calls.lock().unwrap().push(format!("begin {id}"));
        self.inner.begin(id)
    }

    fn complete<'a>(&'a self, id: &'a str, ok: bool) -> BoxFuture<'a, Result<(), BoxError>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("complete {id} {ok}"));
        self.inner.complete(id, ok)
    }
}

#[tokio::test]
async fn a_verified_body_that_does_not_parse_releases_its_claim() {
    let rec = Recorder::default();
    let guard = LoggingGuard::default();
    let d = dispatcher(&rec)
        .idempotency(guard.clone())
        .on_payment_succeeded(|ctx: Context<Recorder>, _| async move {
            ctx.state.push("handler");
            Ok(())
        });
    // A well-formed envelope whose data is not a Payment.
    let body = json!({
        "business_id": "bus_1",
        "type": "payment.succeeded",
        "timestamp": "2025-08-04T05:30:45Z",
        "data": {"payload_type": "Payment", "total_amount": "not a number"}
    })
    .to_string();
    for _ in 0..2 {
        let outcome = deliver(&d, "msg_bad", &body).await;
        assert_eq!(outcome.status, 400, "{:?}", outcome.body);
        assert_eq!(outcome.body["error"]["code"], "invalid_data");
        assert_eq!(outcome.webhook_id.as_deref(), Some("msg_bad"));
    }
    // Each attempt claimed and released the id, so a retry is never stuck "in progress".
    assert_eq!(
        *guard.calls.lock().unwrap(),
        vec![
            "begin msg_bad",
            "complete msg_bad false",
            "begin msg_bad",
            "complete msg_bad false"
        ]
    );
    assert!(rec.take().is_empty());
}

/// A guard that panics.
struct PanickingGuard;

impl IdempotencyGuard for PanickingGuard {
    fn begin<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Begin, BoxError>> {
        panic!("guard bug")
    }

    fn complete<'a>(&'a self, _id: &'a str, _ok: bool) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { panic!("guard bug") })
    }
}

#[tokio::test]
async fn a_panicking_guard_is_a_store_failure() {
    let rec = Recorder::default();
    let d = dispatcher(&rec).idempotency(PanickingGuard);
    let outcome = deliver(&d, "m", &example("payment.processing")).await;
    assert_eq!(outcome.status, 500);
    assert_eq!(outcome.body["error"]["code"], "idempotency_store_failed");
}

/// A guard that answers a fixed value, or fails.
struct FixedGuard(Option<Begin>);

impl IdempotencyGuard for FixedGuard {
    fn begin<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Begin, BoxError>> {
        let answer = self.0.ok_or_else(|| BoxError::from("store offline"));
        Box::pin(async move { answer })
    }

    fn complete<'a>(&'a self, _id: &'a str, _ok: bool) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { Err(BoxError::from("store offline")) })
    }
}

#[tokio::test]
async fn in_progress_and_store_failures() {
    let rec = Recorder::default();
    let body = example("payment.processing");

    let d = dispatcher(&rec).idempotency(FixedGuard(Some(Begin::InProgress)));
    let outcome = deliver(&d, "m", &body).await;
    assert_eq!(outcome.status, 409);
    assert_eq!(outcome.disposition, Disposition::InProgress);
    assert_eq!(outcome.body["error"]["code"], "in_progress");

    let d = dispatcher(&rec).idempotency(FixedGuard(None));
    let outcome = deliver(&d, "m", &body).await;
    assert_eq!(outcome.status, 500);
    assert_eq!(outcome.body["error"]["code"], "idempotency_store_failed");
    assert!(!outcome.body.to_string().contains("offline"));

    // `complete` failing after a successful handler keeps the 200 and records a warning.
    let d = dispatcher(&rec)
        .idempotency(FixedGuard(Some(Begin::Fresh)))
        .on_payment_processing(|_ctx: Context<Recorder>, _| async move { Ok(()) });
    let outcome = deliver(&d, "m", &body).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.warnings.len(), 1);
    assert_eq!(outcome.warnings[0].stage, Stage::Idempotency);
}

#[tokio::test]
async fn context_carries_state_and_delivery_facts() {
    #[derive(Clone)]
    struct App {
        name: &'static str,
        seen: Arc<Mutex<Vec<String>>>,
    }
    let app = App {
        name: "shop",
        seen: Arc::default(),
    };
    let d = Dispatcher::new(verifier(), app.clone()).on_entitlement_grant_created(
        |ctx: Context<App>, _grant| async move {
            ctx.state.seen.lock().unwrap().push(format!(
                "{} {} {} {} {}",
                ctx.state.name,
                ctx.webhook_id,
                ctx.webhook_timestamp.unix_timestamp(),
                ctx.event_type,
                ctx.business_id
            ));
            Ok(())
        },
    );
    let body = example("entitlement_grant.created");
    let event = WebhookEvent::parse(body.as_bytes()).unwrap();
    let headers = signed("msg_ctx", body.as_bytes());
    let outcome = d.process(&headers, body.as_bytes()).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(
        *app.seen.lock().unwrap(),
        vec![format!(
            "shop msg_ctx {NOW} entitlement_grant.created {}",
            event.business_id
        )]
    );
}

#[tokio::test]
async fn hooks_by_path_do_not_fire_for_other_events() {
    let rec = Recorder::default();
    let d = dispatcher(&rec)
        .before(
            "subscriptions.past_due",
            |ctx: Context<Recorder>, e| async move {
                ctx.state.push("past_due hook");
                Ok(Flow::next(e))
            },
        )
        .before(
            "subscription.active",
            |ctx: Context<Recorder>, e| async move {
                ctx.state.push("active hook (wire name)");
                Ok(Flow::next(e))
            },
        )
        .after(
            EventType::SubscriptionPastDue,
            |ctx: Context<Recorder>, o: Outcome, _p: Option<Value>| async move {
                ctx.state.push(format!("after {:?}", o.disposition));
                Ok(())
            },
        );
    deliver(&d, "a", &example("subscription.active")).await;
    assert_eq!(rec.take(), vec!["active hook (wire name)"]);
    deliver(&d, "b", &example("subscription.past_due")).await;
    assert_eq!(rec.take(), vec!["past_due hook", "after Unhandled"]);
    deliver(&d, "c", &example("subscription.paused")).await;
    assert!(rec.take().is_empty());
}

#[tokio::test]
async fn dispatch_replays_a_stored_delivery_without_verification() {
    let rec = Recorder::default();
    let d = dispatcher(&rec).on_dispute_lost(|ctx: Context<Recorder>, _| async move {
        ctx.state.push(format!("replayed {}", ctx.webhook_id));
        Ok(())
    });
    let body = example("dispute.lost");
    let headers = signed("msg_old", body.as_bytes());
    // Long after the tolerance window, the stored delivery still checks out when the
    // timestamp is ignored, and can be dispatched directly.
    let late = verifier().with_clock(dodo_webhooks::ManualClock::new(NOW + 86_400));
    assert!(late.verify(&headers, body.as_bytes()).is_err());
    let delivery = late
        .verify_ignoring_timestamp(&headers, body.as_bytes())
        .unwrap();
    let event = WebhookEvent::parse(body.as_bytes()).unwrap();
    let outcome = d.dispatch(delivery, event).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(rec.take(), vec!["replayed msg_old"]);
}

#[test]
fn dispatcher_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Dispatcher<Recorder>>();
    assert_send_sync::<Outcome>();
    assert_send_sync::<MemoryIdempotency>();
}

#[test]
fn process_future_is_send_and_does_not_borrow_the_request() {
    fn assert_send<T: Send>(_: &T) {}
    let d = Dispatcher::new(verifier(), ());
    let fut = {
        let body = example("payment.succeeded").into_bytes();
        let headers = signed("m", &body);
        d.process(&headers, &body)
    };
    assert_send(&fut);
    let outcome = futures_util::FutureExt::now_or_never(fut).expect("no pending work");
    assert_eq!(outcome.status, 200);
}

#[test]
#[should_panic(expected = "unknown hook target \"paymnets.succeeded\"")]
fn a_mistyped_hook_target_is_refused_at_registration() {
    let verifier =
        dodo_webhooks::Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let _ = Dispatcher::new(verifier, ()).before("paymnets.succeeded", |_ctx, event| async move {
        Ok(Flow::next(event))
    });
}

#[tokio::test]
async fn handlers_return_unit_or_a_result_without_annotations() {
    let verifier =
        dodo_webhooks::Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    // Compiling is most of the test: `()`, `Ok(())`, `?` on a foreign error, a value.
    let _dispatcher = Dispatcher::new(verifier, ())
        .on_payment_succeeded(|_ctx, _payment| async move {})
        .on_payment_failed(|_ctx, _payment| async move { Ok(()) })
        .on_refund_succeeded(|_ctx, _refund| async move {
            let _n: u32 = "7".parse()?;
            Ok(serde_json::json!({"n": 7}))
        })
        .after("payments", |_ctx, _outcome, _pass| async move {});
}
