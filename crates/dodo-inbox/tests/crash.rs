//! A worker killed with SIGKILL in the middle of a handler loses nothing: after its lease
//! expires a fresh worker claims the rows again and processes them exactly once more.
//!
//! The child worker is this test binary re-executed with `DODO_INBOX_CRASH_CHILD` set: it
//! runs only the `crash_child` test, which claims every due row and hangs in the handler.
//! The parent waits until the rows are claimed, kills the child with SIGKILL, waits for
//! the lease (the database's clock) to run out, and processes the rows.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Calls, Kind, TestDb, at, signed, subscription_event, verifier};
use dodo_inbox::{DeliveryStatus, Inbox, ObjectKind};
use dodo_webhooks::Dispatcher;

const CHILD_ENV: &str = "DODO_INBOX_CRASH_CHILD";
const URL_ENV: &str = "DODO_INBOX_CRASH_URL";
const SCHEMA_ENV: &str = "DODO_INBOX_CRASH_SCHEMA";
const LEASE: Duration = Duration::from_secs(2);

/// The child side: claim everything and hang inside the handler until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let url = std::env::var(URL_ENV).unwrap();
    let schema = std::env::var(SCHEMA_ENV).ok();
    let db = common::open(&url, schema.as_deref()).await;
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(|_ctx, _event| async {
        std::future::pending::<()>().await;
        Ok(())
    });
    let inbox = Inbox::builder(dispatcher)
        .lease(LEASE)
        .open(db)
        .await
        .unwrap();
    inbox.worker().process_available().await.unwrap();
    unreachable!("the handler never returns");
}

async fn worker_killed_mid_handler_loses_nothing(kind: Kind) {
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
        .lease(LEASE)
        .open(db.connect().await)
        .await
        .unwrap();
    let ids = ["msg_c0", "msg_c1", "msg_c2"];
    for (i, id) in ids.iter().enumerate() {
        let body = subscription_event(
            "subscription.active",
            &at(i64::try_from(i).unwrap()),
            &format!("sub_c{i}"),
            "cus_c",
            "active",
        );
        assert_eq!(inbox.receive(&signed(id, &body), &body).await.status, 200);
    }

    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env(URL_ENV, &db.url)
        .env_remove(SCHEMA_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(schema) = &db.schema {
        command.env(SCHEMA_ENV, schema);
    }
    let mut child = command.spawn().unwrap();

    // Wait until the child holds every row (no deadline: a broken child fails below).
    loop {
        let rows = inbox.store().list(&Default::default()).await.unwrap();
        if rows.iter().all(|r| r.status == DeliveryStatus::Processing) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the crash child exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL: no destructors, no unwinding, the claims stay in the database.
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    // While the lease holds, nobody else may take the rows.
    let worker = inbox.worker();
    assert_eq!(worker.process_available().await.unwrap().processed, 0);
    tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
    assert_eq!(worker.process_available().await.unwrap().processed, 3);

    for id in ids {
        assert_eq!(calls.get(id), 1);
        let row = inbox.store().get(id).await.unwrap().unwrap().summary;
        assert_eq!(row.status, DeliveryStatus::Processed);
        assert_eq!(row.attempts, 2, "the killed attempt counts");
        assert_eq!(row.claimed_by.as_deref(), Some(worker.id()));
    }
    assert_eq!(
        inbox
            .mirror()
            .count(ObjectKind::Subscription)
            .await
            .unwrap(),
        3
    );
}

on_both_backends!(worker_killed_mid_handler_loses_nothing);
