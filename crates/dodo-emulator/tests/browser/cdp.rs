//! A minimal Chrome DevTools Protocol client: launch headless Chromium, open a page, navigate,
//! evaluate JavaScript, take a screenshot. Four CDP methods are all the checkout test needs,
//! so this talks to the page's WebSocket directly (tokio-tungstenite) instead of pulling a
//! full CDP crate and its generated protocol bindings into the build.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Where Chromium is: env `CHROMIUM` or `/usr/bin/chromium`; `None` when absent.
pub fn chromium_path() -> Option<PathBuf> {
    let p = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    p.exists().then_some(p)
}

/// A running headless Chromium with a fresh profile; killed and cleaned up on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    port: u16,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Flags for a sandbox-less, offline, quiet headless run.
pub const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

impl Browser {
    pub async fn launch(path: &Path) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "dodo-emulator-chromium-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(path)
            .args(FLAGS)
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let file = profile.join("DevToolsActivePort");
        let mut port = None;
        for _ in 0..600 {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(p) = text.lines().next().and_then(|l| l.trim().parse().ok())
            {
                port = Some(p);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let port = port.expect("Chromium did not open its DevTools port within 30 s");
        Browser {
            child,
            profile,
            port,
        }
    }

    /// Opens a new tab.
    pub async fn page(&self) -> Page {
        let url = format!("http://127.0.0.1:{}/json/new?about:blank", self.port);
        let target: Value = reqwest::Client::new()
            .put(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ws_url = target["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        let (ws, _) = connect_async(ws_url.as_str()).await.unwrap();
        let mut page = Page { ws, next_id: 0 };
        page.call("Page.enable", json!({})).await;
        page.call("Runtime.enable", json!({})).await;
        page
    }
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One tab.
pub struct Page {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Page {
    /// Sends a CDP command and waits for its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::Text(msg.into())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within 60 s"))
                .expect("DevTools connection closed")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                if let Some(err) = v.get("error") {
                    panic!("{method} failed: {err}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expr` in the page; answers its JSON value.
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("script failed: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Navigates and waits until the page at `url` finished loading.
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for_url(url).await;
    }

    /// Waits until the loaded page's URL starts with `prefix` (a 60 s hang guard).
    pub async fn wait_for_url(&mut self, prefix: &str) -> String {
        for _ in 0..1200 {
            let v = self
                .eval("JSON.stringify([location.href, document.readyState])")
                .await;
            let pair: Vec<String> =
                serde_json::from_str(v.as_str().unwrap_or("[]")).unwrap_or_default();
            if pair.len() == 2 && pair[0].starts_with(prefix) && pair[1] == "complete" {
                return pair[0].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page never reached {prefix}");
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap()
    }
}
