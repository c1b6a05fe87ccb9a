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
//! Each phase cell shows the rate and the CPU time per delivery in microseconds: the whole
//! machine's busy time (this process, the database server and the kernel for both), then
//! this process's share. The steal column is the share of the machine's CPU time the
//! hypervisor took during the end-to-end phase: on a shared host the rates move with it,
//! the CPU per delivery much less.
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
/// How many stored deliveries are not finished yet.
const UNFINISHED: &str = "SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries \
     WHERE status IN ('received', 'failed', 'processing')";
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

/// The machine's CPU time so far, in seconds, from `/proc/stat`: busy (every process,
/// user + system, so the bench and the database server together), stolen by the
/// hypervisor, and all. A phase's busy CPU per delivery is stable on a shared machine
/// where its wall-clock rate is not; the stolen share says how shared it was. `None` where
/// `/proc/stat` is missing.
fn machine_cpu() -> Option<[f64; 3]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle, iowait and
    // steal. USER_HZ is 100 on every Linux this runs on.
    let all: f64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    let steal = *fields.get(7)?;
    Some([(all - idle - steal) / 100.0, steal / 100.0, all / 100.0])
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat`.
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A phase's rate, CPU microseconds per delivery (the whole machine's, and of those this
/// process's; the rest is the database server's and the kernel's) and the share of the
/// machine's CPU time the hypervisor stole meanwhile.
struct Phase {
    rate: f64,
    cpu: Option<(f64, f64, f64)>,
}

impl Phase {
    fn cell(&self) -> String {
        match self.cpu {
            Some((machine, own, _)) => format!("{:.0}/s {:>3.0}/{:>3.0}", self.rate, machine, own),
            None => format!("{:.0}/s", self.rate),
        }
    }

    fn steal_percent(&self) -> String {
        self.cpu
            .map_or_else(|| "-".to_owned(), |(_, _, steal)| format!("{steal:.0} %"))
    }
}

/// Times `work` (which handles `n` deliveries) in wall-clock and CPU.
async fn phase<F: std::future::Future<Output = ()>>(n: usize, work: F) -> Phase {
    let before = machine_cpu().zip(own_cpu_seconds());
    let start = Instant::now();
    work.await;
    let secs = start.elapsed().as_secs_f64();
    let per = |seconds: f64| seconds * 1e6 / n as f64;
    let cpu = before.zip(machine_cpu().zip(own_cpu_seconds())).map(
        |(([busy, steal, all], own), ([busy_after, steal_after, all_after], own_after))| {
            let stolen = 100.0 * (steal_after - steal) / (all_after - all).max(0.01);
            (per(busy_after - busy), per(own_after - own), stolen)
        },
    );
    Phase {
        rate: n as f64 / secs,
        cpu,
    }
}

async fn throughput(setup: Setup, n: usize) -> Option<(Phase, Phase, Phase)> {
    // Receive only, then process only.
    let db = common::TestDb::new(setup.kind()).await?;
    let inbox = open_inbox(setup, &db).await;
    let deliveries = events("msg_recv", n);
    let receive = phase(n, async {
        assert_eq!(receive_all(&inbox, &deliveries).await, n);
    })
    .await;
    let process = phase(n, async {
        let workers = (0..worker_count()).map(|_| {
            let worker = inbox.worker().batch_size(batch());
            tokio::spawn(async move { worker.process_available().await.unwrap().processed })
        });
        let done: u64 = futures_util::future::join_all(workers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(done, n as u64);
    })
    .await;
    drop(inbox);
    drop(db);

    // End to end: receive while the workers run.
    let db = common::TestDb::new(setup.kind()).await?;
    let inbox = open_inbox(setup, &db).await;
    let deliveries = events("msg_e2e", n);
    let workers: Vec<_> = (0..worker_count())
        .map(|_| inbox.worker().batch_size(batch()).spawn())
        .collect();
    let raw = db.raw().await;
    let end_to_end = phase(n, async {
        assert_eq!(receive_all(&inbox, &deliveries).await, n);
        // Every delivery is stored now: wait until none is unfinished, checked every 10 ms
        // with the workers' own partial index (a count over the whole table would compete
        // with the work measured).
        while raw.strings(UNFINISHED).await != ["0"] {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(processed(&inbox).await, n as i64);
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
    Some((receive, process, end_to_end))
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
            "{:<36} | {:>17} | {:>17} | {:>17} | {:>5} | {:>22}",
            "backend (rate, CPU µs machine/bench)",
            "receive only",
            "process only",
            "end to end",
            "steal",
            "stored→handler p50/p99"
        );
        // `DODO_INBOX_BENCH_ONLY=postgres` (or `sqlite`) runs one backend, e.g. to profile it.
        let only = std::env::var("DODO_INBOX_BENCH_ONLY").unwrap_or_default();
        for setup in [Setup::SqliteFull, Setup::SqliteNormal, Setup::Postgres] {
            let backend = if setup == Setup::Postgres {
                "postgres"
            } else {
                "sqlite"
            };
            if !only.is_empty() && only != backend {
                continue;
            }
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
                "{:<36} | {:>17} | {:>17} | {:>17} | {:>5} | {:>22}",
                setup.label(),
                receive.cell(),
                process.cell(),
                end_to_end.cell(),
                end_to_end.steal_percent(),
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
