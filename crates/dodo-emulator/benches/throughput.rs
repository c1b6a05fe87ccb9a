//! Throughput of the emulator over loopback: concurrency-32 `GET /customers/{id}` (retrieve)
//! and `POST /customers` (create) loops, each for a bounded time, printing requests/s.
//!
//! The server runs on its own single-threaded Tokio runtime (one OS thread, so at most one
//! core); the load generator runs on a separate runtime. For strict pinning run e.g.
//! `taskset -c 0,1 cargo bench -p dodo-emulator --bench throughput` (the server thread then
//! competes with nothing but the client). Settings: `BENCH_SECS` (default 5, max 60) per loop,
//! `BENCH_CONCURRENCY` (default 32). Targets: 20,000 retrieves/s and 5,000 creates/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dodo_emulator::{Emulator, EmulatorConfig};

fn env_u64(name: &str, default: u64, max: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .clamp(1, max)
}

/// Starts the emulator on a dedicated single-threaded runtime; returns its URL and key.
fn start_server() -> (String, String, std::sync::mpsc::Sender<()>) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let emu = Emulator::start(EmulatorConfig::default())
                .await
                .expect("emulator start");
            ready_tx
                .send((emu.base_url().to_string(), emu.api_key().to_string()))
                .expect("ready");
            // Park until the bench is done, serving meanwhile.
            tokio::task::spawn_blocking(move || stop_rx.recv())
                .await
                .ok();
            emu.shutdown().await;
        });
    });
    let (url, key) = ready_rx.recv().expect("server ready");
    (url, key, stop_tx)
}

async fn run_loop<F, Fut>(name: &str, secs: u64, concurrency: u64, make: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (ok, failed, make) = (ok.clone(), failed.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if make(worker * 1_000_000_000 + n).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    let rate = ok as f64 / elapsed;
    println!(
        "{name:<10} {rate:>10.0} req/s  ({ok} ok, {} failed, {elapsed:.1} s, concurrency {concurrency})",
        failed.load(Ordering::Relaxed)
    );
    rate
}

fn main() {
    let secs = env_u64("BENCH_SECS", 5, 60);
    let concurrency = env_u64("BENCH_CONCURRENCY", 32, 1024);
    let (base, key, stop) = start_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency as usize)
            .build()
            .expect("client");
        let created: serde_json::Value = client
            .post(format!("{base}/customers"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"email": "bench@example.com", "name": "Bench"}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let id = created["customer_id"].as_str().expect("id").to_string();
        println!("dodo-emulator throughput, server on one thread, {secs} s per loop");

        // Floor: the cheapest route through the same HTTP stack (no routing table, no store).
        let (c, url) = (client.clone(), format!("{base}/_emulator/health"));
        let floor = run_loop("floor", secs, concurrency, move |_| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                match c.get(&url).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;

        let (c, k, url) = (
            client.clone(),
            key.clone(),
            format!("{base}/customers/{id}"),
        );
        let retrieve = run_loop("retrieve", secs, concurrency, move |_| {
            let (c, k, url) = (c.clone(), k.clone(), url.clone());
            async move {
                match c.get(&url).bearer_auth(&k).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;

        let (c, k, url) = (client.clone(), key.clone(), format!("{base}/customers"));
        let create = run_loop("create", secs, concurrency, move |n| {
            let (c, k, url) = (c.clone(), k.clone(), url.clone());
            async move {
                let body =
                    serde_json::json!({"email": format!("b{n}@example.com"), "name": "Bench"});
                match c.post(&url).bearer_auth(&k).json(&body).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
        println!(
            "retrieve at {:.0} % of the floor (target 20,000/s); create at {:.0} % of the floor \
             (target 5,000/s)",
            100.0 * retrieve / floor,
            100.0 * create / floor
        );
    });
    let _ = stop.send(());
}
