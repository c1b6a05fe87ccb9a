//! Webhooks stored and processed per second, on SQLite and on PostgreSQL, with a no-op
//! handler.
//!
//! `cargo bench -p dodo-inbox --bench throughput` receives N signed deliveries (default
//! 5,000; `DODO_INBOX_BENCH_EVENTS` overrides) with 32 requests in flight, then drains them
//! with two workers, and prints the rates. PostgreSQL runs when `DODO_TEST_POSTGRES_URL`
//! is set (see `scripts/postgres-test-server`); each run uses a fresh schema.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use dodo_inbox::{Inbox, ObjectKind};
use dodo_webhooks::{Dispatcher, SignedHeaders};
use futures_util::StreamExt as _;

const IN_FLIGHT: usize = 32;

fn events(n: usize) -> Vec<(SignedHeaders, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let body = common::subscription_event(
                "subscription.renewed",
                &common::at(i64::try_from(i).unwrap_or(0)),
                &format!("sub_{}", i % 500),
                &format!("cus_{}", i % 500),
                "active",
            );
            (common::signed(&format!("msg_bench_{i}"), &body), body)
        })
        .collect()
}

async fn bench(kind: common::Kind, n: usize) {
    let Some(db) = common::TestDb::new(kind).await else {
        println!("{kind:?}: skipped (set {} to include it)", common::PG_ENV);
        return;
    };
    let dispatcher =
        Dispatcher::new(common::verifier(), ()).on_payload(|_ctx, _event| async { Ok(()) });
    let inbox = Inbox::builder(dispatcher)
        .open(db.connect().await)
        .await
        .unwrap();
    let deliveries = events(n);

    let start = Instant::now();
    let stored = futures_util::stream::iter(deliveries.iter())
        .map(|(headers, body)| {
            let inbox = inbox.clone();
            async move { inbox.receive(headers, body).await.status == 200 }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let receive_secs = start.elapsed().as_secs_f64();
    assert_eq!(stored, n, "every delivery stored");

    let start = Instant::now();
    let workers = (0..2).map(|_| {
        let worker = inbox.worker().batch_size(32);
        tokio::spawn(async move { worker.process_available().await.unwrap().processed })
    });
    let processed: u64 = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let process_secs = start.elapsed().as_secs_f64();
    assert_eq!(processed, n as u64, "every delivery processed");
    assert_eq!(
        inbox
            .mirror()
            .count(ObjectKind::Subscription)
            .await
            .unwrap(),
        500.min(n as i64)
    );

    let rate = |secs: f64| n as f64 / secs;
    println!(
        "{kind:?}: {n} webhooks | receive (verify + store): {:>8.0}/s ({receive_secs:.2} s) | \
         process (claim + dispatch + mirror + mark): {:>8.0}/s ({process_secs:.2} s) | \
         end to end: {:>8.0}/s",
        rate(receive_secs),
        rate(process_secs),
        rate(receive_secs + process_secs),
    );
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = std::env::var("DODO_INBOX_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 200 } else { 5_000 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        bench(common::Kind::Sqlite, n).await;
        bench(common::Kind::Postgres, n).await;
    });
}
