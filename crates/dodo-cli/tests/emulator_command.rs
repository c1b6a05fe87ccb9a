//! `dodo-dev emulator` end to end: start the binary, talk HTTP to it, stop it with SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn http_get(addr: &str, path: &str, key: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_until_ctrl_c_then_exits_cleanly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
        .args([
            "emulator",
            "--port",
            "0",
            "--memory",
            "--api-key",
            "sk_cli_test",
        ])
        .env_remove("DODO_EMULATOR_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut base = None;
    let mut printed = Vec::new();
    while base.is_none() {
        // Generous bound so a broken binary fails instead of hanging.
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        if let Some(url) = line.trim().strip_prefix("base URL:") {
            base = Some(url.trim().to_string());
        }
        printed.push(line);
    }
    let base = base.unwrap();
    for _ in 0..3 {
        printed.push(rx.recv_timeout(Duration::from_secs(60)).unwrap());
    }
    let all = printed.join("\n");
    assert!(all.contains("API key:        sk_cli_test"), "{all}");
    assert!(all.contains("webhook secret: whsec_"), "{all}");
    let addr = base.strip_prefix("http://").unwrap();

    let health = http_get(addr, "/_emulator/health", None);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""));
    let denied = http_get(addr, "/customers", None);
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    let listed = http_get(addr, "/customers", Some("sk_cli_test"));
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    assert!(listed.contains("{\"items\":[]}"));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    // The reader thread ends at EOF, now that the process has exited.
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}

/// Starts the binary with `flags`, returns the child and its first stdout line.
fn start_with(flags: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
        .args([
            "emulator",
            "--port",
            "0",
            "--memory",
            "--api-key",
            "sk_machine",
        ])
        .args(flags)
        .env_remove("DODO_EMULATOR_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn stop(mut child: std::process::Child) {
    // SIGTERM, as npm and process managers send it.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}

#[test]
fn json_start_up_is_one_line_a_script_can_parse() {
    let (child, rx) = start_with(&["--json"]);
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["api_key"], "sk_machine");
    assert!(v["webhook_secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(v["pid"], child.id());
    let base = v["base_url"].as_str().unwrap();
    let addr = base
        .strip_prefix("http://127.0.0.1:")
        .map(|p| format!("127.0.0.1:{p}"))
        .unwrap();
    let listed = http_get(&addr, "/customers", Some("sk_machine"));
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    stop(child);
    assert!(rx.iter().next().is_none(), "nothing else on stdout");
}

#[test]
fn print_env_lines_work_in_a_shell() {
    let (child, rx) = start_with(&["--print-env"]);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("unset ")) {
        lines.push(rx.recv_timeout(Duration::from_secs(60)).unwrap());
    }
    let script = format!(
        "{}\nprintf '%s|%s|%s|%s|%s' \"$DODO_PAYMENTS_BASE_URL\" \"$DODO_PAYMENTS_API_KEY\" \"$DODO_PAYMENTS_WEBHOOK_KEY\" \"$DODO_PAYMENTS_WEBHOOK_SECRET\" \"${{DODO_PAYMENTS_ENVIRONMENT-unset}}\"",
        lines.join("\n")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("DODO_PAYMENTS_ENVIRONMENT", "live_mode")
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = out.split('|').collect();
    assert!(parts[0].starts_with("http://127.0.0.1:"), "{out}");
    assert_eq!(parts[1], "sk_machine");
    assert!(parts[2].starts_with("whsec_"));
    assert_eq!(parts[2], parts[3]);
    assert_eq!(
        parts[4], "unset",
        "the ambiguous environment variable is unset"
    );
    let addr = parts[0].trim_start_matches("http://").to_string();
    assert!(http_get(&addr, "/_emulator/health", None).starts_with("HTTP/1.1 200"));
    stop(child);
}
