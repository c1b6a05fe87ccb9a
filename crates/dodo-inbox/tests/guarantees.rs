//! The inbox's guarantees under failure, on SQLite and PostgreSQL: writes in the claim's
//! transaction happen exactly once (a lost lease, a failure or a timeout rolls them back),
//! leases survive blocking handlers, an outcome the database refuses is dead-lettered
//! without running handlers again, processed rows are pruned and bodies dropped, signed
//! bodies that are not envelopes are kept, and Postgres workers wake on `NOTIFY`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Calls, Kind, Raw, TestDb, at, signed, subscription_event, verifier};
use dodo_inbox::{
    DeliveryStatus, DeliveryTx, Inbox, InboxError, ListFilter, ObjectKind, ReceiptKind, RetryPolicy,
};
use dodo_webhooks::{BoxError, Dispatcher};

fn sub_body(sub: &str) -> Vec<u8> {
    subscription_event("subscription.active", &at(0), sub, "cus_g", "active")
}

async fn effects(raw: &Raw) -> Vec<String> {
    raw.strings("SELECT webhook_id || ':' || note FROM effects ORDER BY webhook_id, note")
        .await
}

async fn handler_writes_commit_with_the_processed_mark(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let raw = db.raw().await;
    common::create_effects(&raw).await;
    let calls = Calls::default();
    let counted = calls.clone();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        let attempt = {
            counted.record(&ctx.webhook_id);
            counted.get(&ctx.webhook_id)
        };
        async move {
            let tx = DeliveryTx::current().ok_or("no delivery transaction")?;
            assert_eq!(tx.webhook_id(), ctx.webhook_id);
            common::write_effect(&tx, &format!("attempt{attempt}")).await?;
            if ctx.webhook_id == "msg_fails_once" && attempt == 1 {
                return Err::<(), BoxError>("downstream unavailable".into());
            }
            Ok(())
        }
    });
    let inbox = Inbox::builder(dispatcher)
        .retry(RetryPolicy::attempts(3).initial_backoff(Duration::ZERO))
        .open(db.connect().await)
        .await
        .unwrap();
    assert!(DeliveryTx::current().is_none(), "only inside handlers");
    for (id, sub) in [("msg_ok", "sub_ok"), ("msg_fails_once", "sub_f1")] {
        let body = sub_body(sub);
        assert_eq!(inbox.receive(&signed(id, &body), &body).await.status, 200);
    }
    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!((stats.processed, stats.retried), (2, 1));
    // The failed attempt's write rolled back with it; each delivery's effect is there once.
    assert_eq!(
        effects(&raw).await,
        ["msg_fails_once:attempt2", "msg_ok:attempt1"]
    );
    assert_eq!(
        inbox
            .mirror()
            .count(ObjectKind::Subscription)
            .await
            .unwrap(),
        2
    );
    // A handle kept past its attempt refuses to write.
    let kept = Arc::new(std::sync::Mutex::new(None::<DeliveryTx>));
    let keep = kept.clone();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |_ctx, _event| {
        *keep.lock().unwrap() = DeliveryTx::current();
        async { Ok(()) }
    });
    let late = Inbox::builder(dispatcher)
        .open(db.connect().await)
        .await
        .unwrap();
    let body = sub_body("sub_late");
    late.receive(&signed("msg_late", &body), &body).await;
    assert_eq!(
        late.worker().process_available().await.unwrap().processed,
        1
    );
    let tx = kept.lock().unwrap().take().unwrap();
    assert!(matches!(
        common::write_effect(&tx, "late").await,
        Err(InboxError::TransactionClosed(id)) if id == "msg_late"
    ));
    assert_eq!(effects(&raw).await.len(), 2);
}

/// The first attempt's lease runs out while its handler is still working (as when its
/// host is cut off from the database and cannot renew); a second worker takes over. The
/// first attempt then finishes while the second is still running: it cannot commit (its
/// token no longer holds the row), and the second commits.
async fn an_attempt_that_lost_its_lease_cannot_commit(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let raw = db.raw().await;
    common::create_effects(&raw).await;
    let gates: Arc<[(tokio::sync::Notify, tokio::sync::Notify); 2]> = Arc::new(Default::default());
    let runs = Arc::new(AtomicU32::new(0));
    let dispatcher = {
        let (gates, runs) = (gates.clone(), runs.clone());
        Dispatcher::new(verifier(), ()).on_payload(move |_ctx, _event| {
            let gates = gates.clone();
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let (started, release) = &gates[usize::try_from(run - 1).unwrap()];
                started.notify_one();
                release.notified().await;
                let tx = DeliveryTx::current().ok_or("no delivery transaction")?;
                common::write_effect(&tx, &format!("run{run}")).await?;
                Ok::<_, BoxError>(())
            }
        })
    };
    let inbox = Inbox::builder(dispatcher)
        .lease(Duration::from_secs(60))
        .open(db.connect().await)
        .await
        .unwrap();
    let body = sub_body("sub_lease");
    inbox.receive(&signed("msg_lease", &body), &body).await;

    let first = inbox.worker();
    let first = tokio::spawn(async move { first.process_available().await.unwrap() });
    gates[0].0.notified().await;
    // The lease runs out by the database's clock.
    raw.exec("UPDATE webhook_deliveries SET lease_until = 0")
        .await;
    let second = inbox.worker();
    let second_id = second.id().to_owned();
    let second = tokio::spawn(async move { second.process_available().await.unwrap() });
    gates[1].0.notified().await;

    // The first attempt finishes while the second still holds the row.
    gates[0].1.notify_one();
    let stats = first.await.unwrap();
    assert_eq!((stats.processed, stats.lease_lost), (0, 1));
    assert!(effects(&raw).await.is_empty(), "run1's write rolled back");
    gates[1].1.notify_one();
    assert_eq!(second.await.unwrap().processed, 1);

    assert_eq!(effects(&raw).await, ["msg_lease:run2"]);
    let row = inbox
        .store()
        .get("msg_lease")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(row.status, DeliveryStatus::Processed);
    assert_eq!(row.attempts, 2);
    assert_eq!(row.claimed_by.as_deref(), Some(second_id.as_str()));
}

async fn a_handler_timeout_fails_the_attempt_and_rolls_back(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let raw = db.raw().await;
    common::create_effects(&raw).await;
    let runs = Arc::new(AtomicU32::new(0));
    let dispatcher = {
        let runs = runs.clone();
        Dispatcher::new(verifier(), ()).on_payload(move |_ctx, _event| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let tx = DeliveryTx::current().ok_or("no delivery transaction")?;
                common::write_effect(&tx, &format!("run{run}")).await?;
                if run == 1 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                Ok::<_, BoxError>(())
            }
        })
    };
    let inbox = Inbox::builder(dispatcher)
        .handler_timeout(Duration::from_millis(300))
        .retry(RetryPolicy::attempts(3).initial_backoff(Duration::ZERO))
        .open(db.connect().await)
        .await
        .unwrap();
    let body = sub_body("sub_slow");
    inbox.receive(&signed("msg_slow", &body), &body).await;
    let started = Instant::now();
    let stats = inbox.worker().process_available().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "not 30 s");
    assert_eq!((stats.retried, stats.processed), (1, 1));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(effects(&raw).await, ["msg_slow:run2"]);
    let row = inbox
        .store()
        .get("msg_slow")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!((row.status, row.attempts), (DeliveryStatus::Processed, 2));
}

/// A handler that blocks its thread for longer than the lease does not lose the lease:
/// renewal runs in its own task.
async fn a_blocking_handler_keeps_its_lease(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let counted = calls.clone();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        counted.record(&ctx.webhook_id);
        std::thread::sleep(Duration::from_millis(2_500));
        async { Ok(()) }
    });
    let inbox = Inbox::builder(dispatcher)
        .lease(Duration::from_millis(1_200))
        .open(db.connect().await)
        .await
        .unwrap();
    let body = sub_body("sub_block");
    inbox.receive(&signed("msg_block", &body), &body).await;
    let first = inbox.worker();
    let first = tokio::spawn(async move { first.process_available().await.unwrap() });
    while calls.get("msg_block") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Past the lease (1.2 s) while the handler still blocks its thread.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let other = inbox.worker().process_available().await.unwrap();
    assert_eq!(other.processed, 0, "the renewed lease still holds");
    assert_eq!(first.await.unwrap().processed, 1);
    assert_eq!(calls.get("msg_block"), 1);
}

/// An outcome the database refuses every time (PostgreSQL rejects `\u0000` in JSONB; on
/// SQLite a trigger refuses the mirror row) is dead-lettered at once: the handler, which
/// succeeded, is not run again, and its transactional write rolled back.
async fn an_outcome_that_cannot_be_committed_is_dead_lettered_without_rerunning(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let raw = db.raw().await;
    common::create_effects(&raw).await;
    let calls = Calls::default();
    let counted = calls.clone();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        counted.record(&ctx.webhook_id);
        async move {
            let tx = DeliveryTx::current().ok_or("no delivery transaction")?;
            common::write_effect(&tx, "poison").await?;
            Ok::<_, BoxError>(())
        }
    });
    let dead = Arc::new(AtomicU32::new(0));
    let seen = dead.clone();
    let inbox = Inbox::builder(dispatcher)
        .retry(RetryPolicy::attempts(8).initial_backoff(Duration::ZERO))
        .on_dead_letter(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .open(db.connect().await)
        .await
        .unwrap();
    let body = match kind {
        Kind::Postgres => {
            let body = sub_body("sub_poison");
            let text = String::from_utf8(body).unwrap();
            text.replace("\"Ada\"", "\"Ada\\u0000\"").into_bytes()
        }
        Kind::Sqlite => {
            raw.exec(
                "CREATE TRIGGER refuse BEFORE INSERT ON dodo_objects WHEN NEW.id = 'sub_poison' \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .await;
            sub_body("sub_poison")
        }
    };
    let r = inbox.receive(&signed("msg_poison", &body), &body).await;
    assert_eq!((r.status, r.kind), (200, ReceiptKind::Stored));
    // Healthy deliveries processed in the same batch (and group commit) are not held back.
    for i in 0..5 {
        let body = sub_body(&format!("sub_healthy{i}"));
        let id = format!("msg_healthy{i}");
        inbox.receive(&signed(&id, &body), &body).await;
    }
    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!(
        (stats.dead_lettered, stats.retried, stats.processed),
        (1, 0, 5)
    );
    assert_eq!(
        inbox.worker().process_available().await.unwrap(),
        Default::default()
    );
    assert_eq!(calls.get("msg_poison"), 1, "not run again");
    assert_eq!(dead.load(Ordering::SeqCst), 1);
    let written = effects(&raw).await;
    assert_eq!(written.len(), 5);
    assert!(
        written.iter().all(|e| e.starts_with("msg_healthy")),
        "{written:?}"
    );
    let row = inbox.store().get("msg_poison").await.unwrap().unwrap();
    assert_eq!(row.summary.status, DeliveryStatus::Dead);
    assert_eq!(row.summary.attempts, 1);
    let error = row.summary.last_error.unwrap();
    assert!(error.starts_with("commit_failed"), "{error}");
    assert_eq!(row.raw_body, body, "kept for a replay after a fix");
}

async fn processed_deliveries_are_pruned_and_bodies_dropped(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(|ctx, _event| async move {
        if ctx.webhook_id == "msg_dead" {
            return Err::<(), BoxError>("always fails".into());
        }
        Ok(())
    });
    let inbox = Inbox::builder(dispatcher)
        .retry(RetryPolicy::attempts(1))
        .drop_processed_bodies(true)
        .retain_processed(Some(Duration::from_millis(300)))
        .open(db.connect().await)
        .await
        .unwrap();
    for (id, sub) in [
        ("msg_p1", "sub_p1"),
        ("msg_p2", "sub_p2"),
        ("msg_dead", "sub_pd"),
    ] {
        let body = sub_body(sub);
        inbox.receive(&signed(id, &body), &body).await;
    }
    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!((stats.processed, stats.dead_lettered), (2, 1));
    let kept = inbox.store().get("msg_p1").await.unwrap().unwrap();
    assert!(
        kept.raw_body.is_empty(),
        "the body went with the processed mark"
    );
    assert!(kept.body_dropped_at.is_some());
    assert!(matches!(
        inbox.replay("msg_p1").await,
        Err(InboxError::BodyDropped(id)) if id == "msg_p1"
    ));
    let dead = inbox.store().get("msg_dead").await.unwrap().unwrap();
    assert_eq!(
        dead.raw_body,
        sub_body("sub_pd"),
        "a dead letter keeps its body"
    );
    // The mirror is not part of the retention.
    assert_eq!(
        inbox
            .mirror()
            .count(ObjectKind::Subscription)
            .await
            .unwrap(),
        2
    );

    assert_eq!(
        inbox
            .store()
            .prune_processed(Duration::from_secs(3600), 100)
            .await
            .unwrap(),
        0,
        "younger than the retention"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A running worker prunes on its own.
    let worker = inbox.worker().spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = inbox.store().list(&ListFilter::new()).await.unwrap();
        if left.len() == 1 {
            assert_eq!(left[0].webhook_id, "msg_dead");
            break;
        }
        assert!(Instant::now() < deadline, "not pruned: {left:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.stop().await;
}

async fn signed_bodies_that_are_not_envelopes_are_kept_and_replayable(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let calls = Calls::default();
    let counted = calls.clone();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        counted.record(&ctx.webhook_id);
        async { Ok(()) }
    });
    let inbox = Inbox::builder(dispatcher)
        .open(db.connect().await)
        .await
        .unwrap();
    let not_json = b"not json ada@example.com".to_vec();
    let r = inbox
        .receive(&signed("msg_text", &not_json), &not_json)
        .await;
    assert_eq!((r.status, r.kind), (200, ReceiptKind::Unparseable));
    assert_eq!(r.body()["status"], "unparseable");
    let no_time =
        br#"{"business_id":"b","type":"payment.succeeded","data":{"email":"ada@example.com"}}"#
            .to_vec();
    let r = inbox
        .receive(&signed("msg_no_time", &no_time), &no_time)
        .await;
    assert_eq!((r.status, r.kind), (200, ReceiptKind::Unparseable));
    let again = inbox
        .receive(&signed("msg_text", &not_json), &not_json)
        .await;
    assert_eq!((again.status, again.kind), (200, ReceiptKind::Duplicate));

    let listed = inbox
        .store()
        .list(&ListFilter::new().status(DeliveryStatus::Unparseable))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].webhook_id, "msg_no_time");
    assert_eq!(listed[0].event_type, "payment.succeeded");
    for row in &listed {
        let error = row.last_error.as_deref().unwrap();
        assert!(error.starts_with("invalid_"), "{error}");
        assert!(!error.contains("ada@"), "no payload values: {error}");
    }
    let stored = inbox.store().get("msg_text").await.unwrap().unwrap();
    assert_eq!(stored.raw_body, not_json);
    // Never processed until replayed; a replay this version still cannot read goes back.
    assert_eq!(
        inbox.worker().process_available().await.unwrap(),
        Default::default()
    );
    inbox.replay("msg_text").await.unwrap();
    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!((stats.unparseable, stats.processed), (1, 0));
    let row = inbox
        .store()
        .get("msg_text")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(
        (row.status, row.replay_count),
        (DeliveryStatus::Unparseable, 1)
    );
    assert_eq!(calls.total(), 0);
}

/// Concurrent receipts share group commits; a webhook-id received many times at once (a
/// retry racing the original) is stored once and every other copy answered duplicate.
async fn concurrent_copies_of_one_delivery_are_stored_once(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let inbox = Inbox::builder(Dispatcher::new(verifier(), ()))
        .open(db.connect().await)
        .await
        .unwrap();
    let copy = sub_body("sub_copy");
    let mut requests = Vec::new();
    for i in 0..40 {
        let inbox = inbox.clone();
        let (id, body) = if i % 2 == 0 {
            ("msg_copy".to_owned(), copy.clone())
        } else {
            (format!("msg_other{i}"), sub_body(&format!("sub_o{i}")))
        };
        requests.push(tokio::spawn(async move {
            let r = inbox.receive(&signed(&id, &body), &body).await;
            (id, r.status, r.kind)
        }));
    }
    let mut stored_copies = 0;
    for request in requests {
        let (id, status, kind) = request.await.unwrap();
        assert_eq!(status, 200);
        match (id.as_str(), kind) {
            ("msg_copy", ReceiptKind::Stored) => stored_copies += 1,
            ("msg_copy", ReceiptKind::Duplicate) => {}
            (_, ReceiptKind::Stored) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stored_copies, 1);
    assert_eq!(
        inbox.store().list(&ListFilter::new()).await.unwrap().len(),
        21
    );
}

on_both_backends!(
    concurrent_copies_of_one_delivery_are_stored_once,
    handler_writes_commit_with_the_processed_mark,
    an_attempt_that_lost_its_lease_cannot_commit,
    a_handler_timeout_fails_the_attempt_and_rolls_back,
    a_blocking_handler_keeps_its_lease,
    an_outcome_that_cannot_be_committed_is_dead_lettered_without_rerunning,
    processed_deliveries_are_pruned_and_bodies_dropped,
    signed_bodies_that_are_not_envelopes_are_kept_and_replayable,
);

/// A worker of another instance (its own pool, its own in-process wake-up, a poll interval
/// of an hour) starts processing a delivery within moments of its commit: PostgreSQL
/// `NOTIFY` reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_notify_wakes_idle_workers_of_other_instances() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |_ctx, _event| {
        let _ = tx.send(Instant::now());
        async { Ok(()) }
    });
    let processing = Inbox::builder(dispatcher)
        .open(db.connect().await)
        .await
        .unwrap();
    let worker = processing
        .worker()
        .poll_interval(Duration::from_secs(3600))
        .spawn();
    let receiving = Inbox::builder(Dispatcher::new(verifier(), ()))
        .open(db.connect().await)
        .await
        .unwrap();
    // Let the worker reach its idle wait (the first claim finds nothing).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for i in 0..5 {
        let body = sub_body(&format!("sub_n{i}"));
        let id = format!("msg_notify_{i}");
        assert_eq!(
            receiving.receive(&signed(&id, &body), &body).await.status,
            200
        );
        let stored = Instant::now();
        let started = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("woken by NOTIFY, not by the hourly poll")
            .unwrap();
        latencies.push(started.saturating_duration_since(stored));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await;
    latencies.sort();
    assert!(latencies[2] < Duration::from_millis(500), "{latencies:?}");
}

/// Connections the server closed while they sat idle in the pool (a restart, a proxy's
/// idle timeout) are pinged and replaced before use: the next delivery is stored at the
/// first try, and a worker claims and commits it, with no error reaching the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_closed_while_idle_are_replaced_before_use() {
    use std::str::FromStr as _;
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let schema = db.schema.clone().unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&db.url)
        .unwrap()
        .options([("search_path", schema.as_str())])
        .application_name(&schema);
    let inbox =
        Inbox::builder(Dispatcher::new(verifier(), ()).on_payload(|_ctx, _e| async { Ok(()) }))
            .open(
                dodo_inbox::Database::connect_postgres(options, 4)
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
    let first = sub_body("sub_idle_1");
    assert_eq!(
        inbox
            .receive(&signed("msg_idle_1", &first), &first)
            .await
            .status,
        200
    );
    let raw = db.raw().await;
    let killed = raw
        .strings(&format!(
            // `OFFSET 0` keeps the filter apart: only this pool's sessions are closed.
            "SELECT CAST(COUNT(pg_terminate_backend(pid)) AS TEXT) FROM (SELECT pid \
             FROM pg_stat_activity WHERE application_name = '{schema}' \
             AND pid <> pg_backend_pid() OFFSET 0) AS pool"
        ))
        .await;
    assert_ne!(killed, ["0"], "the pool had open connections to close");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let second = sub_body("sub_idle_2");
    assert_eq!(
        inbox
            .receive(&signed("msg_idle_2", &second), &second)
            .await
            .status,
        200
    );
    let stats = inbox.worker().process_available().await.unwrap();
    assert_eq!((stats.processed, stats.errors), (2, 0));
    assert_eq!(
        inbox
            .mirror()
            .count(ObjectKind::Subscription)
            .await
            .unwrap(),
        2
    );
}
