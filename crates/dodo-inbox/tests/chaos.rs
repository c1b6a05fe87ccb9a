//! Two OS processes on one PostgreSQL database, each receiving and processing deliveries,
//! killed with SIGKILL at random moments: every delivery's transactional effect is
//! recorded exactly once and none is lost.
//!
//! Each child is this test binary re-executed to run only the ignored `chaos_child` test.
//! A child receives its half of the deliveries on a schedule (after a restart it receives
//! again every delivery already due, as Dodo retries unacknowledged ones), runs two
//! workers, and writes one `effects` row per processed delivery in the delivery's own
//! transaction (the table has no unique key, so a duplicate would show). The parent kills
//! a random child every few hundred milliseconds and restarts it, then lets both run until
//! every delivery is processed, and checks the rows.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Kind, TestDb, at, signed, subscription_event, verifier};
use dodo_inbox::{DeliveryTx, Inbox, RetryPolicy};
use dodo_webhooks::{BoxError, Dispatcher};
use futures_util::StreamExt as _;

const CHILD_ENV: &str = "DODO_INBOX_CHAOS_CHILD";
const URL_ENV: &str = "DODO_INBOX_CHAOS_URL";
const SCHEMA_ENV: &str = "DODO_INBOX_CHAOS_SCHEMA";
const START_ENV: &str = "DODO_INBOX_CHAOS_START_MS";
const CHILDREN: usize = 2;
const DELIVERIES: usize = 3_000;
/// Each child receives its next delivery this often (both: ~300/s, 10 s in all).
const INTERVAL: Duration = Duration::from_micros(6_667);
const CHAOS: Duration = Duration::from_secs(12);

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A random number below `n` (uuid's generator is random enough for this).
fn random_below(n: u64) -> u64 {
    u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap()) % n
}

/// The child side: receive this child's deliveries on schedule and process everything due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a process of the chaos test, started by it"]
async fn chaos_child() {
    let Ok(index) = std::env::var(CHILD_ENV) else {
        return; // run by `--include-ignored` outside the test that starts it
    };
    let index: usize = index.parse().unwrap();
    let url = std::env::var(URL_ENV).unwrap();
    let schema = std::env::var(SCHEMA_ENV).unwrap();
    let start_ms: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let db = common::open(&url, Some(&schema)).await;
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(|ctx, _event| async move {
        let tx = DeliveryTx::current().ok_or("no delivery transaction")?;
        common::write_effect(&tx, &std::process::id().to_string()).await?;
        // Sometimes linger, so that kills land inside handlers too.
        if random_below(4) == 0 {
            tokio::time::sleep(Duration::from_millis(random_below(20))).await;
        }
        drop(ctx);
        Ok::<_, BoxError>(())
    });
    let inbox = Inbox::builder(dispatcher)
        .lease(Duration::from_millis(1_500))
        .handler_timeout(Duration::from_millis(500))
        .retry(RetryPolicy::attempts(1_000).initial_backoff(Duration::from_millis(50)))
        .skip_migrations()
        .open(db)
        .await
        .unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            inbox
                .worker()
                .batch_size(16)
                .poll_interval(Duration::from_millis(200))
                .spawn()
        })
        .collect();
    let mine: Vec<usize> = (index..DELIVERIES).step_by(CHILDREN).collect();
    let start = Instant::now() - Duration::from_millis(now_ms().saturating_sub(start_ms));
    futures_util::stream::iter(mine.into_iter().enumerate())
        .map(|(k, i)| {
            let inbox = inbox.clone();
            async move {
                let due = start + INTERVAL * u32::try_from(k).unwrap();
                tokio::time::sleep_until(due.into()).await;
                let body = subscription_event(
                    "subscription.renewed",
                    &at(i64::try_from(i).unwrap()),
                    &format!("sub_{i}"),
                    "cus_chaos",
                    "active",
                );
                // Dodo retries until it gets a 2xx.
                while inbox
                    .receive(&signed(&format!("msg_{i:05}"), &body), &body)
                    .await
                    .status
                    != 200
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
        .buffer_unordered(8)
        .collect::<()>()
        .await;
    // Keep processing (others' abandoned rows too) until the parent ends this process.
    for worker in workers {
        worker.stop().await;
        std::future::pending::<()>().await;
    }
}

fn spawn_child(index: usize, db: &TestDb, start_ms: u64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "chaos_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, index.to_string())
        .env(URL_ENV, &db.url)
        .env(SCHEMA_ENV, db.schema.as_deref().unwrap())
        .env(START_ENV, start_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn counts(raw: &common::Raw) -> (i64, i64, i64, i64) {
    let n = |sql: &'static str| async move { raw.strings(sql).await[0].parse::<i64>().unwrap() };
    (
        n("SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries WHERE status = 'processed'").await,
        n("SELECT CAST(COUNT(*) AS TEXT) FROM effects").await,
        n("SELECT CAST(COUNT(DISTINCT webhook_id) AS TEXT) FROM effects").await,
        n("SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries WHERE attempts > 1").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_killed_at_random_record_each_effect_exactly_once() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let raw = db.raw().await;
    // Migrate once, then create the handlers' table.
    Inbox::builder(Dispatcher::new(verifier(), ()))
        .open(db.connect().await)
        .await
        .unwrap();
    common::create_effects(&raw).await;

    let start_ms = now_ms() + 500;
    let mut children: Vec<_> = (0..CHILDREN)
        .map(|i| spawn_child(i, &db, start_ms))
        .collect();
    let chaos_until = Instant::now() + CHAOS;
    let mut kills = 0;
    while Instant::now() < chaos_until {
        tokio::time::sleep(Duration::from_millis(200 + random_below(600))).await;
        let victim = usize::try_from(random_below(CHILDREN as u64)).unwrap();
        // SIGKILL: no destructors, no graceful stop; claims and open transactions are cut.
        children[victim].kill().unwrap();
        let status = children[victim].wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "child {victim} died by itself"
        );
        kills += 1;
        children[victim] = spawn_child(victim, &db, start_ms);
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    let total = i64::try_from(DELIVERIES).unwrap();
    let (processed, effects, distinct, retried) = loop {
        let c = counts(&raw).await;
        if c.0 == total || Instant::now() > deadline {
            break c;
        }
        for (i, child) in children.iter_mut().enumerate() {
            assert!(child.try_wait().unwrap().is_none(), "child {i} exited");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    eprintln!(
        "chaos: {kills} kills, {processed} processed, {effects} effects ({distinct} distinct), \
         {retried} deliveries needed more than one attempt"
    );
    assert!(kills >= 10, "only {kills} kills");
    assert!(retried > 0, "no kill landed inside an attempt");
    assert_eq!(processed, total, "every delivery processed, none lost");
    assert_eq!(effects, total, "one effect per delivery");
    assert_eq!(distinct, total, "no delivery's effect twice");
    let stored = raw
        .strings("SELECT status FROM webhook_deliveries GROUP BY status")
        .await;
    assert_eq!(stored, ["processed"]);
    let missing = raw
        .strings(
            "SELECT webhook_id FROM webhook_deliveries d WHERE NOT EXISTS \
             (SELECT 1 FROM effects e WHERE e.webhook_id = d.webhook_id)",
        )
        .await;
    assert!(missing.is_empty(), "{missing:?}");
}
