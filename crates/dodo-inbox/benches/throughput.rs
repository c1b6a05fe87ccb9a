//! Inbox throughput and latency on SQLite and PostgreSQL, with a no-op handler.
//!
//! `cargo bench -p dodo-inbox --bench throughput` prints, per backend and in one run:
//! - **receive only**: N signed deliveries verified and stored (32 requests in flight, no
//!   worker running);
//! - **process only**: those N drained by two workers (batches of 32; `DODO_INBOX_BENCH_WORKERS`
//!   and `DODO_INBOX_BENCH_BATCH` change both);
//! - **end to end**: N more deliveries received while the two workers run, timed from the
//!   first request until the last delivery is processed (receive → processed);
//! - **cross-process latency**: a second OS process (this binary re-executed) runs one
//!   idle worker; this process stores one delivery every 20 ms; the time from the store's
//!   acknowledgement to the handler's start in the other process, p50 and p99 (wall clock;
//!   PostgreSQL wakes the worker with `NOTIFY`, SQLite has only its poll interval, set to
//!   100 ms here).
//!
//! SQLite runs twice: with the default `synchronous=FULL` and with `synchronous=NORMAL`
//! (`Database::connect_sqlite_risking_loss_on_power_failure`), to show what durability
//! costs. N defaults to 5,000 (`DODO_INBOX_BENCH_EVENTS` overrides). PostgreSQL runs when
//! `DODO_TEST_POSTGRES_URL` is set (see `scripts/postgres-test-server`); each phase uses a
//! fresh schema or file.

#[path = "../tests/common/mod.rs"]
mod common;

use std::str::FromStr as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dodo_inbox::{Database, DeliveryTx, Inbox, ObjectKind};
use dodo_webhooks::{BoxError, Dispatcher, SignedHeaders};
use futures_util::StreamExt as _;

const IN_FLIGHT: usize = 32;

/// Workers per phase (`DODO_INBOX_BENCH_WORKERS`, default 2).
fn worker_count() -> usize {
    env_number("DODO_INBOX_BENCH_WORKERS", 2)
}

/// Rows per claim (`DODO_INBOX_BENCH_BATCH`, default 32).
fn batch() -> usize {
    env_number("DODO_INBOX_BENCH_BATCH", 32)
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}
const LATENCY_SAMPLES: usize = 200;
const ROLE_ENV: &str = "DODO_INBOX_BENCH_ROLE";
const URL_ENV: &str = "DODO_INBOX_BENCH_URL";
const SCHEMA_ENV: &str = "DODO_INBOX_BENCH_SCHEMA";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    SqliteFull,
    SqliteNormal,
    Postgres,
}

impl Setup {
    fn kind(self) -> common::Kind {
        match self {
            Setup::Postgres => common::Kind::Postgres,
            _ => common::Kind::Sqlite,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Setup::SqliteFull => "SQLite (synchronous=FULL, default)",
            Setup::SqliteNormal => "SQLite (synchronous=NORMAL)",
            Setup::Postgres => "PostgreSQL",
        }
    }
}

fn events(prefix: &str, n: usize) -> Vec<(SignedHeaders, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let body = common::subscription_event(
                "subscription.renewed",
                &common::at(i64::try_from(i).unwrap_or(0)),
                &format!("sub_{}", i % 500),
                &format!("cus_{}", i % 500),
                "active",
            );
            (common::signed(&format!("{prefix}_{i}"), &body), body)
        })
        .collect()
}

async fn open(setup: Setup, db: &common::TestDb) -> Database {
    match setup {
        Setup::Postgres => {
            let options = sqlx::postgres::PgConnectOptions::from_str(&db.url)
                .unwrap()
                .options([("search_path", db.schema.as_deref().unwrap())]);
            Database::connect_postgres(options, 40).await.unwrap()
        }
        Setup::SqliteFull => Database::connect(&db.url).await.unwrap(),
        Setup::SqliteNormal => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).unwrap();
            Database::connect_sqlite_risking_loss_on_power_failure(options, false)
                .await
                .unwrap()
        }
    }
}

async fn open_inbox(setup: Setup, db: &common::TestDb) -> Inbox {
    let dispatcher =
        Dispatcher::new(common::verifier(), ()).on_payload(|_ctx, _event| async { Ok(()) });
    Inbox::builder(dispatcher)
        .open(open(setup, db).await)
        .await
        .unwrap()
}

async fn receive_all(inbox: &Inbox, deliveries: &[(SignedHeaders, Vec<u8>)]) -> usize {
    futures_util::stream::iter(deliveries.iter())
        .map(|(headers, body)| {
            let inbox = inbox.clone();
            async move { inbox.receive(headers, body).await.status == 200 }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}

async fn processed(inbox: &Inbox) -> i64 {
    inbox
        .store()
        .counts()
        .await
        .unwrap()
        .get("processed")
        .copied()
        .unwrap_or(0)
}

async fn throughput(setup: Setup, n: usize) -> Option<(f64, f64, f64)> {
    // Receive only, then process only.
    let db = common::TestDb::new(setup.kind()).await?;
    let inbox = open_inbox(setup, &db).await;
    let deliveries = events("msg_recv", n);
    let start = Instant::now();
    assert_eq!(receive_all(&inbox, &deliveries).await, n);
    let receive = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let workers = (0..worker_count()).map(|_| {
        let worker = inbox.worker().batch_size(batch());
        tokio::spawn(async move { worker.process_available().await.unwrap().processed })
    });
    let done: u64 = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let process = start.elapsed().as_secs_f64();
    assert_eq!(done, n as u64);
    drop(inbox);
    drop(db);

    // End to end: receive while the workers run.
    let db = common::TestDb::new(setup.kind()).await?;
    let inbox = open_inbox(setup, &db).await;
    let deliveries = events("msg_e2e", n);
    let workers: Vec<_> = (0..worker_count())
        .map(|_| inbox.worker().batch_size(batch()).spawn())
        .collect();
    let start = Instant::now();
    assert_eq!(receive_all(&inbox, &deliveries).await, n);
    // Checked every 10 ms (a count over the table competes with the work measured).
    while processed(&inbox).await < n as i64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_to_end = start.elapsed().as_secs_f64();
    for w in workers {
        w.stop().await;
    }
    assert_eq!(
        inbox
            .mirror()
            .count(ObjectKind::Subscription)
            .await
            .unwrap(),
        500.min(n as i64)
    );
    let rate = |secs: f64| n as f64 / secs;
    Some((rate(receive), rate(process), rate(end_to_end)))
}

fn wall_micros() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

/// The other process: one idle worker whose handler records when it started, in the
/// delivery's transaction.
async fn latency_child() {
    let url = std::env::var(URL_ENV).unwrap();
    let schema = std::env::var(SCHEMA_ENV).ok();
    let db = common::open(&url, schema.as_deref()).await;
    let dispatcher = Dispatcher::new(common::verifier(), ()).on_payload(|_ctx, _event| async {
        let started = wall_micros().to_string();
        let tx = DeliveryTx::current().ok_or("no delivery transaction")?;
        common::write_effect(&tx, &started).await?;
        Ok::<_, BoxError>(())
    });
    let inbox = Inbox::builder(dispatcher)
        .skip_migrations()
        .open(db)
        .await
        .unwrap();
    inbox
        .worker()
        .poll_interval(Duration::from_millis(100))
        .run_until(std::future::pending())
        .await;
}

async fn latency(setup: Setup) -> Option<(Duration, Duration)> {
    let db = common::TestDb::new(setup.kind()).await?;
    let inbox = open_inbox(setup, &db).await;
    let raw = db.raw().await;
    common::create_effects(&raw).await;
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .env(ROLE_ENV, "latency-worker")
        .env(URL_ENV, &db.url)
        .stdout(std::process::Stdio::null());
    if let Some(schema) = &db.schema {
        command.env(SCHEMA_ENV, schema);
    }
    let mut child = command.spawn().unwrap();
    // Measure only once the other process is up: a warm-up delivery it has processed.
    let warm = events("msg_warm", 1);
    assert_eq!(inbox.receive(&warm[0].0, &warm[0].1).await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while raw
        .strings("SELECT webhook_id FROM effects")
        .await
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the worker process did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stored = std::collections::HashMap::new();
    for (i, (headers, body)) in events("msg_lat", LATENCY_SAMPLES).iter().enumerate() {
        assert_eq!(inbox.receive(headers, body).await.status, 200);
        stored.insert(format!("msg_lat_{i}"), wall_micros());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let rows = raw
            .strings(
                "SELECT webhook_id || ' ' || note FROM effects WHERE webhook_id <> 'msg_warm_0'",
            )
            .await;
        if rows.len() >= LATENCY_SAMPLES || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(rows.len(), LATENCY_SAMPLES);
    let mut latencies: Vec<Duration> = rows
        .iter()
        .map(|row| {
            let (id, started) = row.split_once(' ').unwrap();
            let started: i64 = started.parse().unwrap();
            let micros = started.saturating_sub(stored[id]).max(0);
            Duration::from_micros(u64::try_from(micros).unwrap())
        })
        .collect();
    latencies.sort();
    let at = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
    Some((at(50), at(99)))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var(ROLE_ENV).as_deref() == Ok("latency-worker") {
        runtime.block_on(latency_child());
        return;
    }
    // `cargo test --benches` runs bench binaries with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = std::env::var("DODO_INBOX_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 200 } else { 5_000 });
    runtime.block_on(async {
        println!(
            "{:<36} | {:>14} | {:>14} | {:>14} | {:>22}",
            "backend", "receive only", "process only", "end to end", "stored→handler p50/p99"
        );
        for setup in [Setup::SqliteFull, Setup::SqliteNormal, Setup::Postgres] {
            let Some((receive, process, end_to_end)) = throughput(setup, n).await else {
                println!(
                    "{}: skipped (set {} to include it)",
                    setup.label(),
                    common::PG_ENV
                );
                continue;
            };
            let latency = if setup == Setup::SqliteNormal || quick {
                "-".to_owned()
            } else {
                match latency(setup).await {
                    Some((p50, p99)) => format!("{:.1} / {:.1} ms", ms(p50), ms(p99)),
                    None => "-".to_owned(),
                }
            };
            println!(
                "{:<36} | {:>12.0}/s | {:>12.0}/s | {:>12.0}/s | {:>22}",
                setup.label(),
                receive,
                process,
                end_to_end,
                latency
            );
        }
        println!(
            "({n} deliveries per phase, no-op handler, {} workers, batches of {})",
            worker_count(),
            batch()
        );
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
