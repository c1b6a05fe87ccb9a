//! `dodo-dev listen` on the emulator's delivery stream and `dodo-dev logs tail` on its request
//! log, end to end against the emulator in-process: JSON lines, the printed secret, filters,
//! and that listening polls nothing (the request log shows one stream request, no lists).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use dodo_emulator::{Emulator, EmulatorConfig};
use dodo_webhooks::Verifier;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedReceiver;

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
        seen.lock().unwrap().push((headers, body));
        "thanks"
    }
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), seen)
}

/// Spawns the binary; its stdout and stderr lines arrive on the two receivers.
fn spawn(args: &[&str]) -> (Child, UnboundedReceiver<String>, UnboundedReceiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
        .args(args)
        .env_remove("DODO_EMULATOR_URL")
        .env_remove("DODO_EMULATOR_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = |r: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    };
    let out = pipe(Box::new(child.stdout.take().unwrap()));
    let err = pipe(Box::new(child.stderr.take().unwrap()));
    (child, out, err)
}

async fn next_line(rx: &mut UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("nothing printed within 60 s")
        .expect("the command exited")
}

async fn wait_for(rx: &mut UnboundedReceiver<String>, needle: &str) -> String {
    loop {
        let line = next_line(rx).await;
        if line.contains(needle) {
            return line;
        }
    }
}

async fn admin(emu: &Emulator, method: reqwest::Method, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", emu.base_url()))
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_json_streams_each_attempt_without_polling() {
    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    let (url, seen) = receiver().await;
    let (mut child, mut out, mut err) = spawn(&[
        "listen",
        "--forward-to",
        &url,
        "--emulator",
        emu.base_url(),
        "--api-key",
        emu.api_key(),
        "--events",
        "refund.succeeded",
        "--json",
    ]);
    let secret_line = wait_for(&mut err, "signing secret: ").await;
    let secret = secret_line
        .trim()
        .trim_start_matches("signing secret: ")
        .to_string();
    assert_eq!(
        secret,
        emu.webhook_secret(),
        "admin endpoints use the emulator-wide secret"
    );
    wait_for(&mut err, "Press Ctrl-C").await;

    dodo_emulator::testing::Admin::connect(emu.base_url(), emu.api_key())
        .unwrap()
        .trigger("refund.succeeded")
        .await
        .unwrap();
    let line = next_line(&mut out).await;
    let d: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(d["event_type"], "refund.succeeded");
    assert_eq!(d["url"], url.as_str());
    assert_eq!(d["status"], "succeeded");
    assert_eq!(d["attempt_log"][0]["status_code"], 200);
    {
        let seen = seen.lock().unwrap();
        let (headers, body) = &seen[0];
        let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
        Verifier::from_secret(&secret)
            .unwrap()
            .verify_parts(
                &h("webhook-id"),
                &h("webhook-timestamp"),
                &h("webhook-signature"),
                body,
            )
            .unwrap();
    }
    // Listening polled nothing: the only delivery request it made is the one stream.
    let log = admin(
        &emu,
        reqwest::Method::GET,
        "/_emulator/requests?path_prefix=/_emulator/deliveries",
    )
    .await;
    let paths: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().all(|p| *p == "/_emulator/deliveries/stream"),
        "{paths:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_print_secret_prints_only_the_secret_and_removes_its_endpoint() {
    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking({
        let (base, key) = (emu.base_url().to_string(), emu.api_key().to_string());
        move || {
            Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
                .args([
                    "listen",
                    "--forward-to",
                    "http://127.0.0.1:9/hook",
                    "--print-secret",
                ])
                .args(["--emulator", &base, "--api-key", &key])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", emu.webhook_secret())
    );
    let endpoints = admin(&emu, reqwest::Method::GET, "/_emulator/endpoints").await;
    assert_eq!(
        endpoints["items"].as_array().map(Vec::len),
        Some(0),
        "{endpoints}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_tail_streams_the_requests_that_match_its_filters() {
    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    // One earlier request for --history.
    admin(&emu, reqwest::Method::GET, "/customers?page_size=1").await;
    let (mut child, mut out, mut err) = spawn(&[
        "logs",
        "tail",
        "--emulator",
        emu.base_url(),
        "--api-key",
        emu.api_key(),
        "--path-prefix",
        "/customers",
        "--history",
        "5",
        "--json",
    ]);
    let first: Value = serde_json::from_str(&next_line(&mut out).await).unwrap();
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/customers", "no query string is logged");
    wait_for(&mut err, "tailing requests").await;

    let http = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        http.post(format!("{}{path}", emu.base_url()))
            .bearer_auth(emu.api_key())
            .json(&body)
            .send()
    };
    post("/products", serde_json::json!({})).await.unwrap();
    let created = post(
        "/customers",
        serde_json::json!({"email": "tail@example.com", "name": "Tail"}),
    )
    .await
    .unwrap();
    let request_id = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let line: Value = serde_json::from_str(&next_line(&mut out).await).unwrap();
    assert_eq!(line["method"], "POST");
    assert_eq!(
        line["path"], "/customers",
        "the /products request is filtered out"
    );
    assert_eq!(line["status"], 200);
    assert_eq!(line["request_id"], request_id.as_str());
    let _ = child.kill();
    let _ = child.wait();

    // Text form and a status filter.
    let (mut child, mut out, mut err) = spawn(&[
        "logs",
        "tail",
        "--emulator",
        emu.base_url(),
        "--api-key",
        emu.api_key(),
        "--status",
        "404",
    ]);
    wait_for(&mut err, "tailing requests").await;
    admin(&emu, reqwest::Method::GET, "/customers").await;
    let _ = http
        .get(format!("{}/customers/cus_missing", emu.base_url()))
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap();
    let line = next_line(&mut out).await;
    assert!(
        line.contains("GET    /customers/cus_missing → 404"),
        "{line}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
