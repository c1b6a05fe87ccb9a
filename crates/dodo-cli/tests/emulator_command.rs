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
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    // The reader thread ends at EOF, now that the process has exited.
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}
