//! `dodo-dev trigger` and `dodo-dev listen` end to end: a signed sample sent straight to a local receiver, and a trigger
//! on a running emulator forwarded to the receiver; both verified with dodo-webhooks.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use dodo_emulator::{Emulator, EmulatorConfig};
use dodo_webhooks::{EventType, Verifier, WebhookEvent};

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

async fn dodo_dev(args: Vec<String>) -> (bool, String, String) {
    dodo_dev_env(args, Vec::new()).await
}

/// Runs the binary with only `envs` among the variables it reads.
async fn dodo_dev_env(
    args: Vec<String>,
    envs: Vec<(&'static str, String)>,
) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
            .args(&args)
            .env_remove("DODO_EMULATOR_URL")
            .env_remove("DODO_WEBHOOK_SECRET")
            .env_remove("DODO_PAYMENTS_WEBHOOK_SECRET")
            .env_remove("DODO_PAYMENTS_WEBHOOK_KEY")
            .env_remove("DODO_EMULATOR_API_KEY")
            .envs(envs)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn verify(seen: &Seen, secret: &str, index: usize) -> WebhookEvent {
    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[index];
    let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
    Verifier::from_secret(secret)
        .unwrap()
        .verify_parts(
            &h("webhook-id"),
            &h("webhook-timestamp"),
            &h("webhook-signature"),
            body,
        )
        .unwrap();
    WebhookEvent::parse(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_signs_a_sample_locally_for_forward_to() {
    let (url, seen) = receiver().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (ok, stdout, stderr) = dodo_dev(
        [
            "trigger",
            "dispute.won",
            "--forward-to",
            &url,
            "--secret",
            secret,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("answer: 200 thanks"), "{stdout}");
    assert_eq!(verify(&seen, secret, 0).event_type(), EventType::DisputeWon);

    let (ok, stdout, _) = dodo_dev(
        ["trigger", "credit.added", "--forward-to", &url]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(ok);
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("signing secret (generated): "))
        .unwrap()
        .to_string();
    assert_eq!(
        verify(&seen, &generated, 1).event_type(),
        EventType::CreditAdded
    );

    let (ok, _, stderr) = dodo_dev(
        ["trigger", "payment.teleported", "--forward-to", &url]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(!ok);
    assert!(
        stderr.contains("invalid value 'payment.teleported'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("payment.succeeded"),
        "the possible values are listed: {stderr}"
    );
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B: &str = "whsec_c2Vjb25kIHNlY3JldCBvZiB0aGUgdGVzdHM=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_signs_with_the_apps_own_variables_first_set_wins() {
    let (url, seen) = receiver().await;
    let run = |envs: Vec<(&'static str, String)>| {
        dodo_dev_env(
            args(&[
                "trigger",
                "payment.succeeded",
                "--forward-to",
                &url,
                "--json",
            ]),
            envs,
        )
    };
    // Only the SDKs' variable: it is used.
    let (ok, stdout, stderr) = run(vec![
        ("DODO_PAYMENTS_WEBHOOK_KEY", SECRET_B.to_string()),
        ("DODO_WEBHOOK_SECRET", SECRET_A.to_string()),
    ])
    .await;
    assert!(ok, "{stdout}{stderr}");
    let out: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["secret_from"], "DODO_PAYMENTS_WEBHOOK_KEY");
    assert_eq!(out["status_code"], 200);
    assert_eq!(out["response_body"], "thanks");
    assert!(out.get("generated_secret").is_none());
    let event = verify(&seen, SECRET_B, 0);
    assert_eq!(event.event_type(), EventType::PaymentSucceeded);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen[0].0["webhook-id"].to_str().unwrap(),
            out["event_id"].as_str().unwrap()
        );
    }
    // `_SECRET` wins over `_KEY`.
    let (ok, stdout, _) = run(vec![
        ("DODO_PAYMENTS_WEBHOOK_SECRET", SECRET_A.to_string()),
        ("DODO_PAYMENTS_WEBHOOK_KEY", SECRET_B.to_string()),
    ])
    .await;
    assert!(ok);
    assert!(
        stdout.contains("\"secret_from\":\"DODO_PAYMENTS_WEBHOOK_SECRET\""),
        "{stdout}"
    );
    verify(&seen, SECRET_A, 1);
    // A bad value is named by its variable, and nothing is sent.
    let (ok, _, stderr) = run(vec![("DODO_PAYMENTS_WEBHOOK_KEY", "whsec_***".to_string())]).await;
    assert!(!ok);
    assert!(stderr.contains("DODO_PAYMENTS_WEBHOOK_KEY"), "{stderr}");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_json_on_a_running_emulator_reports_objects_and_the_delivery() {
    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    let (url, _seen) = receiver().await;
    let (ok, stdout, stderr) = dodo_dev_env(
        args(&[
            "trigger",
            "refund.succeeded",
            "--emulator",
            emu.base_url(),
            "--forward-to",
            &url,
            "--json",
        ]),
        vec![("DODO_EMULATOR_API_KEY", emu.api_key().to_string())],
    )
    .await;
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let out: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["event_type"], "refund.succeeded");
    assert!(
        out["objects"]["refund_id"]
            .as_str()
            .unwrap()
            .starts_with("ref"),
        "{out}"
    );
    assert_eq!(out["delivery"]["status"], "succeeded");
    assert_eq!(out["delivery"]["url"], url.as_str());
    assert_eq!(out["delivery"]["attempt_log"][0]["status_code"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_on_a_running_emulator_forwards_its_delivery() {
    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    let (url, seen) = receiver().await;
    let (ok, stdout, stderr) = dodo_dev(
        [
            "trigger",
            "subscription.renewed",
            "--emulator",
            emu.base_url(),
            "--api-key",
            emu.api_key(),
            "--forward-to",
            &url,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("subscription_id: sub_"), "{stdout}");
    assert!(stdout.contains("attempt 1: 200 thanks"), "{stdout}");
    let event = verify(&seen, emu.webhook_secret(), 0);
    assert_eq!(event.event_type(), EventType::SubscriptionRenewed);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the temporary endpoint only takes its type"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_registers_an_endpoint_and_prints_each_delivery() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    let (url, seen) = receiver().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
        .args([
            "listen",
            "--forward-to",
            &url,
            "--emulator",
            emu.base_url(),
            "--api-key",
            emu.api_key(),
            "--events",
            "payment.succeeded",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut secret = String::new();
    loop {
        let line = next_line(&mut rx).await;
        if let Some(s) = line.trim().strip_prefix("signing secret: ") {
            secret = s.to_string();
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let out = dodo_emulator::testing::Admin::connect(emu.base_url(), emu.api_key())
        .unwrap()
        .trigger("payment.succeeded")
        .await
        .unwrap();
    assert!(
        out.events
            .iter()
            .any(|e| e.event_type == "payment.succeeded"),
        "{out:?}"
    );
    let line = loop {
        let line = next_line(&mut rx).await;
        if line.contains("payment.succeeded") {
            break line;
        }
    };
    assert!(line.contains("attempt 1 → 200 thanks"), "{line}");
    assert_eq!(
        verify(&seen, &secret, 0).event_type(),
        EventType::PaymentSucceeded
    );
    let _ = child.kill();
    let _ = child.wait();
}

async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
        .await
        .expect("dodo-dev listen printed nothing within 60 s")
        .expect("dodo-dev listen exited")
}
