//! Behaviour of the inbox on SQLite and PostgreSQL: storing, deduplication, retries, dead
//! letters, concurrent workers, inline mode, replay, listing, and the object mirror.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Calls, Kind, TestDb, at, payment_event, signed, subscription_event, verifier};
use dodo_inbox::{DeliveryStatus, Inbox, ListFilter, Mode, ObjectKind, ReceiptKind, RetryPolicy};
use dodo_webhooks::{Dispatcher, Flow};

/// A dispatcher recording every delivery in `calls`.
fn counting(calls: &Calls) -> Dispatcher {
    let calls = calls.clone();
    Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        calls.record(&ctx.webhook_id);
        async { Ok(()) }
    })
}

/// A dispatcher failing while `failures_left` is positive (decrementing it), recording
/// every invocation.
fn flaky(calls: &Calls, failures_left: Arc<AtomicU32>) -> Dispatcher {
    let calls = calls.clone();
    Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        calls.record(&ctx.webhook_id);
        let fail = failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        async move {
            if fail {
                Err("downstream unavailable".into())
            } else {
                Ok(())
            }
        }
    })
}

async fn duplicate_delivery_runs_handler_once(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let inbox = Inbox::builder(counting(&calls))
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_1", "cus_1", "active");
    let headers = signed("msg_dup", &body);

    let receipts =
        futures_util::future::join_all((0..5).map(|_| inbox.receive(&headers, &body))).await;
    let stored = receipts
        .iter()
        .filter(|r| r.kind == ReceiptKind::Stored)
        .count();
    let duplicates = receipts
        .iter()
        .filter(|r| r.kind == ReceiptKind::Duplicate)
        .count();
    assert_eq!((stored, duplicates), (1, 4));
    assert!(receipts.iter().all(|r| r.status == 200));
    assert_eq!(receipts[0].body()["id"], "msg_dup");

    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!(stats.processed, 1);
    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        0
    );

    let again = inbox.receive(&headers, &body).await;
    assert_eq!((again.status, again.kind), (200, ReceiptKind::Duplicate));
    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        0
    );
    assert_eq!(calls.get("msg_dup"), 1);

    let row = inbox.store().get("msg_dup").await.unwrap().unwrap();
    assert_eq!(row.summary.status, DeliveryStatus::Processed);
    assert_eq!(row.summary.attempts, 1);
    assert_eq!(row.summary.event_type, "subscription.active");
    assert_eq!(row.summary.business_id, "bus_test");
    assert_eq!(row.summary.disposition.as_deref(), Some("delivered"));
    assert_eq!(row.raw_body, body);
    assert_eq!(row.headers["webhook-id"], "msg_dup");
    assert_eq!(row.headers["webhook-signature"], headers.signature);
    assert_eq!(row.webhook_timestamp, common::NOW);
}

async fn rejects_forged_and_oversized_deliveries_without_storing(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let inbox = Inbox::builder(counting(&calls))
        .max_body_bytes(4096)
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_1", "cus_1", "active");

    let mut forged = signed("msg_forged", &body);
    forged.signature = signed("msg_forged", b"other").signature;
    let r = inbox.receive(&forged, &body).await;
    assert_eq!((r.status, r.kind), (401, ReceiptKind::Rejected));
    assert_eq!(r.body()["error"]["code"], "invalid_signature");

    let big = vec![b' '; 5000];
    let r = inbox.receive(&signed("msg_big", &big), &big).await;
    assert_eq!(
        (r.status, r.body()["error"]["code"].clone()),
        (413, "payload_too_large".into())
    );

    assert!(
        inbox
            .store()
            .list(&ListFilter::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        0
    );
    assert_eq!(calls.total(), 0);
}

async fn unknown_event_types_are_stored_and_acknowledged(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let dispatcher = Dispatcher::new(verifier(), ());
    let inbox = Inbox::builder(dispatcher)
        .open(db.connect().await)
        .await
        .unwrap();
    let body = common::envelope("widget.exploded", &at(0), serde_json::json!({"id": "w_1"}));
    let r = inbox.receive(&signed("msg_unknown", &body), &body).await;
    assert_eq!((r.status, r.kind), (200, ReceiptKind::Stored));
    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        1
    );
    let row = inbox.store().get("msg_unknown").await.unwrap().unwrap();
    assert_eq!(row.summary.status, DeliveryStatus::Processed);
    assert_eq!(row.summary.disposition.as_deref(), Some("unhandled"));
    assert_eq!(calls.total(), 0);
}

async fn handler_failure_retries_with_backoff_then_succeeds(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    // Retries are scheduled by the database's clock: 1 s, then 2 s.
    let inbox = Inbox::builder(flaky(&calls, Arc::new(AtomicU32::new(2))))
        .retry(
            RetryPolicy::attempts(5)
                .initial_backoff(Duration::from_secs(1))
                .multiplier(2),
        )
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_r", "cus_r", "active");
    assert_eq!(
        inbox
            .receive(&signed("msg_retry", &body), &body)
            .await
            .status,
        200
    );
    let worker = inbox.worker();

    assert_eq!(worker.process_available().await.unwrap().retried, 1);
    let row = inbox
        .store()
        .get("msg_retry")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(row.status, DeliveryStatus::Failed);
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("downstream unavailable")
    );
    // Not due yet: nothing runs, and nothing was mirrored by the failed attempt.
    assert_eq!(
        worker.process_available().await.unwrap(),
        Default::default()
    );
    assert_eq!(
        inbox
            .mirror()
            .count(ObjectKind::Subscription)
            .await
            .unwrap(),
        0
    );

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(worker.process_available().await.unwrap().retried, 1);
    assert_eq!(
        worker.process_available().await.unwrap(),
        Default::default()
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(worker.process_available().await.unwrap().processed, 1);

    let row = inbox
        .store()
        .get("msg_retry")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(row.status, DeliveryStatus::Processed);
    assert_eq!(row.attempts, 3);
    assert_eq!(row.last_error, None);
    assert_eq!(calls.get("msg_retry"), 3);
    let sub = inbox.mirror().subscription("sub_r").await.unwrap().unwrap();
    assert_eq!(sub.customer.customer_id, "cus_r");
}

async fn dead_letter_after_max_attempts_then_replay(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let failures = Arc::new(AtomicU32::new(u32::MAX));
    let dead = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&dead);
    let inbox = Inbox::builder(flaky(&calls, Arc::clone(&failures)))
        .retry(RetryPolicy::attempts(3).initial_backoff(Duration::ZERO))
        .on_dead_letter(move |letter| {
            seen.lock().unwrap().push(letter);
            async {}
        })
        .open(db.connect().await)
        .await
        .unwrap();
    let body = payment_event("payment.succeeded", &at(0), "pay_dead", "succeeded", None);
    inbox.receive(&signed("msg_dead", &body), &body).await;

    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!((stats.retried, stats.dead_lettered), (2, 1));
    assert_eq!(calls.get("msg_dead"), 3);
    {
        let dead = dead.lock().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].webhook_id, "msg_dead");
        assert_eq!(dead[0].event_type, "payment.succeeded");
        assert_eq!(dead[0].attempts, 3);
        assert!(dead[0].error.contains("downstream unavailable"));
    }
    let dead_rows = inbox
        .store()
        .list(&ListFilter::new().status(DeliveryStatus::Dead))
        .await
        .unwrap();
    assert_eq!(dead_rows.len(), 1);
    assert_eq!(
        inbox.worker().process_available().await.unwrap(),
        Default::default()
    );
    assert!(inbox.mirror().payment("pay_dead").await.unwrap().is_none());

    // Fix the cause, replay the dead letter: it runs once more and succeeds.
    failures.store(0, Ordering::SeqCst);
    assert_eq!(inbox.replay_dead_letters(None).await.unwrap(), 1);
    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        1
    );
    let row = inbox
        .store()
        .get("msg_dead")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(
        (row.status, row.attempts, row.replay_count),
        (DeliveryStatus::Processed, 1, 1)
    );
    assert_eq!(calls.get("msg_dead"), 4);
    let payment = inbox.mirror().payment("pay_dead").await.unwrap().unwrap();
    assert_eq!(payment.total_amount, 1000);
    assert_eq!(dead.lock().unwrap().len(), 1);
}

async fn replay_of_processed_event_runs_again_and_keeps_mirror(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let inbox = Inbox::builder(counting(&calls))
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_p", "cus_p", "active");
    inbox.receive(&signed("msg_replay", &body), &body).await;
    inbox.worker().process_available().await.unwrap();

    inbox.replay("msg_replay").await.unwrap();
    let row = inbox
        .store()
        .get("msg_replay")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(row.status, DeliveryStatus::Received);
    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        1
    );
    assert_eq!(calls.get("msg_replay"), 2);
    assert!(
        inbox
            .mirror()
            .is_subscription_active("cus_p", None)
            .await
            .unwrap()
    );
    assert!(matches!(
        inbox.replay("msg_missing").await,
        Err(dodo_inbox::InboxError::NotFound(_))
    ));
}

async fn list_filters_by_status_and_type(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let inbox = Inbox::builder(counting(&calls))
        .open(db.connect().await)
        .await
        .unwrap();
    for i in 0..3 {
        let body = subscription_event("subscription.renewed", &at(i), "sub_l", "cus_l", "active");
        inbox
            .receive(&signed(&format!("msg_sub_{i}"), &body), &body)
            .await;
    }
    let body = payment_event("payment.failed", &at(9), "pay_l", "failed", None);
    inbox.receive(&signed("msg_pay", &body), &body).await;

    let all = inbox.store().list(&ListFilter::new()).await.unwrap();
    let ids: Vec<_> = all.iter().map(|d| d.webhook_id.as_str()).collect();
    assert_eq!(ids, ["msg_pay", "msg_sub_2", "msg_sub_1", "msg_sub_0"]);
    let subs = inbox
        .store()
        .list(
            &ListFilter::new()
                .event_type("subscription.renewed")
                .limit(2),
        )
        .await
        .unwrap();
    assert_eq!(subs.len(), 2);
    let older = inbox
        .store()
        .list(&ListFilter::new().before_id(subs[1].id))
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].webhook_id, "msg_sub_0");
    let received = ListFilter::new().status(DeliveryStatus::Received);
    assert_eq!(inbox.store().list(&received).await.unwrap().len(), 4);

    inbox.worker().process_available().await.unwrap();
    assert!(inbox.store().list(&received).await.unwrap().is_empty());
    let processed = ListFilter::new()
        .status(DeliveryStatus::Processed)
        .event_type("payment.failed");
    assert_eq!(inbox.store().list(&processed).await.unwrap().len(), 1);
    assert_eq!(inbox.store().counts().await.unwrap()["processed"], 4);
}

async fn two_instances_process_each_event_exactly_once(kind: Kind) {
    const EVENTS: usize = 500;
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let a = Inbox::builder(counting(&calls))
        .open(db.connect().await)
        .await
        .unwrap();
    let b = Inbox::builder(counting(&calls))
        .open(db.connect().await)
        .await
        .unwrap();

    // Every event is delivered to both instances at once (Dodo retrying into a load
    // balancer): each id must be stored once.
    let bodies: Vec<(String, Vec<u8>)> = (0..EVENTS)
        .map(|i| {
            let id = format!("msg_{i:04}");
            let body = subscription_event(
                "subscription.renewed",
                &at(i64::try_from(i).unwrap()),
                &format!("sub_{}", i % 50),
                &format!("cus_{}", i % 50),
                "active",
            );
            (id, body)
        })
        .collect();
    let receipts = futures_util::future::join_all(bodies.iter().flat_map(|(id, body)| {
        let headers = signed(id, body);
        let (a, b) = (a.clone(), b.clone());
        let (h2, body2) = (headers.clone(), body.clone());
        let body1 = body.clone();
        [
            tokio::spawn(async move { a.receive(&headers, &body1).await }),
            tokio::spawn(async move { b.receive(&h2, &body2).await }),
        ]
    }))
    .await;
    let receipts: Vec<_> = receipts.into_iter().map(Result::unwrap).collect();
    assert!(
        receipts.iter().all(|r| r.status == 200),
        "every delivery answered 200"
    );
    let stored = receipts
        .iter()
        .filter(|r| r.kind == ReceiptKind::Stored)
        .count();
    assert_eq!(stored, EVENTS);

    let (wa, wb) = (a.worker().batch_size(8), b.worker().batch_size(8));
    let (sa, sb) = tokio::join!(
        tokio::spawn(async move { wa.process_available().await.unwrap() }),
        tokio::spawn(async move { wb.process_available().await.unwrap() }),
    );
    let (sa, sb) = (sa.unwrap(), sb.unwrap());
    assert_eq!(sa.processed + sb.processed, EVENTS as u64);
    assert_eq!(sa.lease_lost + sb.lease_lost, 0);

    let counts = calls.snapshot();
    assert_eq!(counts.len(), EVENTS);
    assert!(
        counts.values().all(|&n| n == 1),
        "a handler ran more than once"
    );
    let done = a.store().counts().await.unwrap();
    assert_eq!(done.get("processed").copied(), Some(EVENTS as i64));
    assert_eq!(done.len(), 1);
    assert_eq!(
        b.mirror().count(ObjectKind::Subscription).await.unwrap(),
        50
    );
    // The newest event per subscription (i = 450..500) wrote the mirrored state.
    let sub = a
        .mirror()
        .object(ObjectKind::Subscription, "sub_7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.source_webhook_id, "msg_0457");
}

async fn older_event_does_not_overwrite_newer_state(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let inbox = Inbox::builder(counting(&calls))
        .open(db.connect().await)
        .await
        .unwrap();
    let worker = inbox.worker();
    let deliver = |id: &'static str, body: Vec<u8>| {
        let inbox = inbox.clone();
        let worker = worker.clone();
        async move {
            assert_eq!(inbox.receive(&signed(id, &body), &body).await.status, 200);
            assert_eq!(worker.process_available().await.unwrap().processed, 1);
        }
    };

    deliver(
        "m1",
        subscription_event("subscription.active", &at(20), "sub_o", "cus_o", "active"),
    )
    .await;
    // Arrives later but happened earlier: ignored by the mirror (still processed).
    deliver(
        "m2",
        subscription_event("subscription.on_hold", &at(10), "sub_o", "cus_o", "on_hold"),
    )
    .await;
    let sub = inbox.mirror().subscription("sub_o").await.unwrap().unwrap();
    assert_eq!(sub.status.as_str(), "active");
    assert!(
        inbox
            .mirror()
            .is_subscription_active("cus_o", None)
            .await
            .unwrap()
    );
    assert!(
        inbox
            .mirror()
            .is_subscription_active("cus_o", Some("pdt_pro"))
            .await
            .unwrap()
    );
    assert!(
        !inbox
            .mirror()
            .is_subscription_active("cus_o", Some("pdt_other"))
            .await
            .unwrap()
    );
    let obj = inbox
        .mirror()
        .object(ObjectKind::Subscription, "sub_o")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(obj.source_webhook_id, "m1");
    assert_eq!(calls.get("m2"), 1);

    // A newer event does overwrite.
    deliver(
        "m3",
        subscription_event(
            "subscription.cancelled",
            &at(30),
            "sub_o",
            "cus_o",
            "cancelled",
        ),
    )
    .await;
    let sub = inbox.mirror().subscription("sub_o").await.unwrap().unwrap();
    assert_eq!(sub.status.as_str(), "cancelled");
    assert!(
        !inbox
            .mirror()
            .is_subscription_active("cus_o", None)
            .await
            .unwrap()
    );
    let customer = inbox.mirror().customer("cus_o").await.unwrap().unwrap();
    assert_eq!(customer.email, "ada@example.com");
    assert_eq!(
        inbox
            .mirror()
            .subscriptions_for_customer("cus_o")
            .await
            .unwrap()
            .len(),
        1
    );

    // The object's own updated_at wins over the envelope timestamp when both have one.
    deliver(
        "p1",
        payment_event(
            "payment.processing",
            &at(50),
            "pay_o",
            "processing",
            Some(&at(40)),
        ),
    )
    .await;
    deliver(
        "p2",
        payment_event(
            "payment.succeeded",
            &at(45),
            "pay_o",
            "succeeded",
            Some(&at(48)),
        ),
    )
    .await;
    let pay = inbox.mirror().payment("pay_o").await.unwrap().unwrap();
    assert_eq!(pay.status.as_ref().map(|s| s.as_str()), Some("succeeded"));
    deliver(
        "p3",
        payment_event("payment.failed", &at(60), "pay_o", "failed", Some(&at(41))),
    )
    .await;
    let pay = inbox.mirror().payment("pay_o").await.unwrap().unwrap();
    assert_eq!(pay.status.as_ref().map(|s| s.as_str()), Some("succeeded"));
}

async fn inline_mode_processes_before_answering(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let failures = Arc::new(AtomicU32::new(1));
    let inbox = Inbox::builder(flaky(&calls, failures))
        .mode(Mode::Inline)
        .retry(RetryPolicy::attempts(5).initial_backoff(Duration::from_secs(3600)))
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_i", "cus_i", "active");
    let headers = signed("msg_inline", &body);

    let first = inbox.receive(&headers, &body).await;
    assert_eq!((first.status, first.kind), (500, ReceiptKind::Failed));
    assert_eq!(first.body()["error"]["code"], "handler_failed");
    // Dodo's retry arrives before our own backoff: it is processed right away.
    let second = inbox.receive(&headers, &body).await;
    assert_eq!((second.status, second.kind), (200, ReceiptKind::Processed));
    let third = inbox.receive(&headers, &body).await;
    assert_eq!((third.status, third.kind), (200, ReceiptKind::Duplicate));
    assert_eq!(calls.get("msg_inline"), 2);
    assert!(
        inbox
            .mirror()
            .is_subscription_active("cus_i", None)
            .await
            .unwrap()
    );
}

/// A request dropped mid-handler (Dodo's 15 s timeout) leaves its row claimed. Dodo's
/// retry must not get a 200 while nothing has run: 503 while the lease holds, then the
/// retry after the lease runs the handler inline.
async fn inline_mode_never_acknowledges_an_unprocessed_delivery(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let runs = Arc::new(AtomicU32::new(0));
    let started = Arc::new(tokio::sync::Notify::new());
    let dispatcher = {
        let (runs, started) = (runs.clone(), started.clone());
        dodo_webhooks::Dispatcher::new(common::verifier(), ()).on_subscription_active(
            move |_ctx, _sub| {
                let (runs, started) = (runs.clone(), started.clone());
                async move {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        started.notify_one();
                        std::future::pending::<()>().await;
                    }
                    Ok(())
                }
            },
        )
    };
    let inbox = Inbox::builder(dispatcher)
        .mode(Mode::Inline)
        .lease(Duration::from_secs(2))
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_d", "cus_d", "active");
    let headers = signed("msg_dropped", &body);

    let first = {
        let (inbox, headers, body) = (inbox.clone(), headers.clone(), body.clone());
        tokio::spawn(async move { inbox.receive(&headers, &body).await })
    };
    started.notified().await;
    first.abort();
    let _ = first.await;

    let retry = inbox.receive(&headers, &body).await;
    assert_eq!(
        retry.status, 503,
        "not acknowledged while another claim holds it"
    );
    assert_eq!(retry.body()["error"]["code"], "in_progress");

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let after_lease = inbox.receive(&headers, &body).await;
    assert_eq!(
        (after_lease.status, after_lease.kind),
        (200, ReceiptKind::Processed)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

async fn skipped_events_are_processed_without_handler(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let dispatcher = counting(&calls).before("payments", |_ctx, _event| async { Ok(Flow::skip()) });
    let inbox = Inbox::builder(dispatcher)
        .open(db.connect().await)
        .await
        .unwrap();
    let body = payment_event("payment.succeeded", &at(0), "pay_s", "succeeded", None);
    inbox.receive(&signed("msg_skip", &body), &body).await;
    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        1
    );
    let row = inbox
        .store()
        .get("msg_skip")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(row.disposition.as_deref(), Some("skipped"));
    assert_eq!(calls.total(), 0);
    // The mirror reflects Dodo's state whatever the app's hooks decided.
    assert!(inbox.mirror().payment("pay_s").await.unwrap().is_some());
}

async fn spawned_worker_processes_new_deliveries_and_stops(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let inbox = Inbox::builder(counting(&calls))
        .open(db.connect().await)
        .await
        .unwrap();
    let handle = inbox
        .worker()
        .poll_interval(Duration::from_millis(20))
        .spawn();
    for i in 0..10 {
        let body = subscription_event("subscription.renewed", &at(i), "sub_w", "cus_w", "active");
        inbox
            .receive(&signed(&format!("msg_w{i}"), &body), &body)
            .await;
    }
    // Wait (without a deadline assertion) until the background worker has caught up.
    while inbox
        .store()
        .counts()
        .await
        .unwrap()
        .get("processed")
        .copied()
        != Some(10)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = handle.stop().await;
    assert_eq!(stats.processed, 10);
    assert_eq!(calls.total(), 10);
}

async fn abandoned_attempts_are_dead_lettered(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let counted = calls.clone();
    // A handler that never finishes, as if it took its process down each time.
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        counted.record(&ctx.webhook_id);
        std::future::pending::<()>()
    });
    let dead = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&dead);
    let inbox = Inbox::builder(dispatcher)
        .retry(RetryPolicy::attempts(2))
        .lease(Duration::from_millis(500))
        .on_dead_letter(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_x", "cus_x", "active");
    inbox.receive(&signed("msg_crashy", &body), &body).await;

    for attempt in 1..=2 {
        let worker = inbox.worker();
        let task = tokio::spawn(async move { worker.process_available().await });
        while calls.get("msg_crashy") < attempt {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task.abort();
        let _ = task.await;
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(
        calls.get("msg_crashy"),
        2,
        "the handler is not run a third time"
    );
    assert_eq!(dead.load(Ordering::SeqCst), 1);
    let row = inbox
        .store()
        .get("msg_crashy")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(row.status, DeliveryStatus::Dead);
    assert!(row.last_error.unwrap().starts_with("abandoned: 2 attempts"));
}

async fn store_failure_answers_500(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let database = db.connect().await;
    let inbox = Inbox::builder(counting(&Calls::default()))
        .open(database.clone())
        .await
        .unwrap();
    database.close().await;
    let body = subscription_event("subscription.active", &at(0), "sub_f", "cus_f", "active");
    let r = inbox.receive(&signed("msg_down", &body), &body).await;
    assert_eq!((r.status, r.kind), (500, ReceiptKind::Rejected));
    assert_eq!(r.body()["error"]["code"], "store_failed");
    assert_eq!(r.webhook_id.as_deref(), Some("msg_down"));
    // The public message carries no internals.
    assert_eq!(
        r.body()["error"]["message"],
        "the delivery could not be stored"
    );
}

async fn undecodable_data_is_kept_and_dead_lettered(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let inbox = Inbox::builder(counting(&calls))
        .retry(RetryPolicy::attempts(2).initial_backoff(Duration::ZERO))
        .open(db.connect().await)
        .await
        .unwrap();
    // A known type whose data does not fit the model: stored (the raw body is kept for a
    // replay after an upgrade), then retried and dead-lettered without running handlers.
    let body = common::envelope(
        "payment.succeeded",
        &at(0),
        serde_json::json!({"payment_id": 5}),
    );
    let r = inbox.receive(&signed("msg_bad_data", &body), &body).await;
    assert_eq!((r.status, r.kind), (200, ReceiptKind::Stored));
    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!((stats.retried, stats.dead_lettered), (1, 1));
    let row = inbox.store().get("msg_bad_data").await.unwrap().unwrap();
    assert_eq!(row.summary.status, DeliveryStatus::Dead);
    assert!(row.summary.last_error.unwrap().starts_with("invalid_data"));
    assert_eq!(row.raw_body, body);
    assert_eq!(calls.total(), 0);
}

on_both_backends!(
    duplicate_delivery_runs_handler_once,
    rejects_forged_and_oversized_deliveries_without_storing,
    unknown_event_types_are_stored_and_acknowledged,
    handler_failure_retries_with_backoff_then_succeeds,
    dead_letter_after_max_attempts_then_replay,
    replay_of_processed_event_runs_again_and_keeps_mirror,
    list_filters_by_status_and_type,
    two_instances_process_each_event_exactly_once,
    older_event_does_not_overwrite_newer_state,
    inline_mode_processes_before_answering,
    inline_mode_never_acknowledges_an_unprocessed_delivery,
    skipped_events_are_processed_without_handler,
    spawned_worker_processes_new_deliveries_and_stops,
    abandoned_attempts_are_dead_lettered,
    store_failure_answers_500,
    undecodable_data_is_kept_and_dead_lettered,
);
