//! Hosts whose application clocks disagree by more than the lease still agree on who owns
//! a delivery, because leases are timed by the database's clock.
//!
//! Host A (this process, true clock) claims a delivery with a 5 s lease and keeps its
//! handler busy. Host B is this test binary re-executed under libfaketime with its clock
//! ten minutes ahead: it looks for due deliveries and must find none (with leases compared
//! against the application clock, as before, it took the row over). Then A finishes and
//! commits; the handler ran once. PostgreSQL only (several hosts share one database). The
//! test needs libfaketime (Debian `faketime`, installed by `scripts/postgres-test-server`):
//! without it the test fails under `CI=true` and is skipped with a loud message otherwise.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Calls, Kind, TestDb, at, signed, subscription_event, verifier};
use dodo_inbox::{DeliveryStatus, Inbox};
use dodo_webhooks::Dispatcher;

const CHILD_ENV: &str = "DODO_INBOX_SKEW_CHILD";
const URL_ENV: &str = "DODO_INBOX_SKEW_URL";
const SCHEMA_ENV: &str = "DODO_INBOX_SKEW_SCHEMA";
const LIBFAKETIME: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
];
const LEASE: Duration = Duration::from_secs(5);

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Host B: one pass over due deliveries; prints its clock and what it processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a process of the skew test, started by it"]
async fn skew_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // run by `--include-ignored` outside the test that starts it
    }
    let url = std::env::var(URL_ENV).unwrap();
    let schema = std::env::var(SCHEMA_ENV).unwrap();
    let db = common::open(&url, Some(&schema)).await;
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(|_ctx, _event| async { Ok(()) });
    let inbox = Inbox::builder(dispatcher)
        .lease(LEASE)
        .skip_migrations()
        .open(db)
        .await
        .unwrap();
    let stats = inbox.worker().process_available().await.unwrap();
    println!(
        "skew-child now_ms={} processed={}",
        now_ms(),
        stats.processed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_whose_clock_runs_ahead_cannot_take_a_live_lease() {
    let Some(library) = LIBFAKETIME.iter().find(|p| Path::new(p).exists()) else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("libfaketime is missing but CI=true (apt-get install faketime)");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! SKIPPED: clock-skew test, libfaketime is not installed \
             (apt-get install faketime). !!!!!!!!\n"
        );
        return;
    };
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let calls = Calls::default();
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let dispatcher = {
        let (calls, started, release) = (calls.clone(), started.clone(), release.clone());
        Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
            calls.record(&ctx.webhook_id);
            let (started, release) = (started.clone(), release.clone());
            async move {
                started.notify_one();
                release.notified().await;
                Ok(())
            }
        })
    };
    let inbox = Inbox::builder(dispatcher)
        .lease(LEASE)
        .open(db.connect().await)
        .await
        .unwrap();
    let body = subscription_event("subscription.active", &at(0), "sub_skew", "cus_s", "active");
    inbox.receive(&signed("msg_skew", &body), &body).await;
    let host_a = inbox.worker();
    let host_a = tokio::spawn(async move { host_a.process_available().await.unwrap() });
    started.notified().await;

    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "skew_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env(URL_ENV, &db.url)
        .env(SCHEMA_ENV, db.schema.as_deref().unwrap())
        .env("LD_PRELOAD", library)
        .env("FAKETIME", "+10m")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "host B failed: {stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("skew-child ").map(|(_, report)| report))
        .unwrap_or_else(|| panic!("no report from host B: {stdout}"));
    let field = |name: &str| -> u128 {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name))
            .unwrap()
            .parse()
            .unwrap()
    };
    let ahead =
        Duration::from_millis(u64::try_from(field("now_ms=").saturating_sub(now_ms())).unwrap());
    assert!(ahead > LEASE * 10, "host B's clock is not ahead: {ahead:?}");
    assert_eq!(field("processed="), 0, "host B took a live lease");

    release.notify_one();
    assert_eq!(host_a.await.unwrap().processed, 1);
    assert_eq!(calls.get("msg_skew"), 1);
    let row = inbox
        .store()
        .get("msg_skew")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!((row.status, row.attempts), (DeliveryStatus::Processed, 1));
}
