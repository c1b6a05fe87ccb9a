//! Money operations are never sent twice by the client on its own.
//!
//! The server here is what the live API documents: it ignores `Idempotency-Key`, counts
//! every request it reads in full, and then misbehaves in one of the ways that leave the
//! caller unsure whether the request was processed (it hangs past the timeout, answers 503,
//! or resets the connection after reading the request). Each POST must reach it exactly
//! once and come back as an error that says it may have been processed; a 429 and a GET are
//! retried; a POST the API documents as deduplicated (ingest) is retried too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dodo_client::{Call, Client, Method, Processing, RequestSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the counting server treats each request after reading it.
#[derive(Clone, Copy, Debug)]
enum Misbehave {
    /// Never answers (the client's timeout fires after the request was sent).
    Hang,
    /// Answers `503` without `x-should-retry`.
    Unavailable,
    /// Closes the connection with a TCP reset after reading the request.
    Reset,
    /// Answers `429` with `retry-after-ms: 0` to the first request, `200` after.
    RateLimitedOnce,
}

struct CountingServer {
    base_url: String,
    requests: Arc<AtomicUsize>,
    idempotency_headers: Arc<AtomicUsize>,
}

impl CountingServer {
    async fn start(mode: Misbehave) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let idempotency_headers = Arc::new(AtomicUsize::new(0));
        let (count, keys) = (requests.clone(), idempotency_headers.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (count, keys) = (count.clone(), keys.clone());
                tokio::spawn(serve(stream, mode, count, keys));
            }
        });
        CountingServer {
            base_url,
            requests,
            idempotency_headers,
        }
    }

    fn client(&self) -> Client {
        Client::builder()
            .api_key("sk_test_counting")
            .base_url(&self.base_url)
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap()
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads requests off one connection (keep-alive) and misbehaves as told.
async fn serve(
    mut stream: TcpStream,
    mode: Misbehave,
    count: Arc<AtomicUsize>,
    keys: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_until_headers(&mut stream, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let body_len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + body_len);
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        if head.contains("\r\nidempotency-key:") {
            keys.fetch_add(1, Ordering::SeqCst);
        }
        let reply: &[u8] = match mode {
            Misbehave::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Misbehave::Reset => {
                // SO_LINGER 0 turns the close into a RST, as a crashed proxy would send.
                let _ = stream.set_zero_linger();
                return;
            }
            Misbehave::Unavailable => {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after-ms: 0\r\ncontent-length: 2\r\n\r\n{}"
            }
            Misbehave::RateLimitedOnce if n == 1 => {
                b"HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 0\r\ncontent-length: 2\r\n\r\n{}"
            }
            Misbehave::RateLimitedOnce => {
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}"
            }
        };
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Reads until the end of the headers; returns the offset after `\r\n\r\n`.
async fn read_until_headers(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(pos + 4);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn refund(client: &Client) -> Call<serde_json::Value> {
    Call::json(
        client,
        RequestSpec::new(Method::POST, Ok("/refunds".into()))
            .json(&serde_json::json!({"payment_id": "pay_1", "reason": "duplicate"})),
    )
}

fn retrieve(client: &Client) -> Call<serde_json::Value> {
    Call::json(
        client,
        RequestSpec::new(Method::GET, Ok("/payments/pay_1".into())),
    )
}

#[tokio::test]
async fn timed_out_refund_reaches_the_server_once() {
    let server = CountingServer::start(Misbehave::Hang).await;
    let err = refund(&server.client()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.processing(), Processing::MaybeProcessed);
    assert!(err.to_string().contains("may have been processed"), "{err}");
    assert_eq!(server.count(), 1);
    assert_eq!(server.idempotency_headers.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn refund_answered_503_reaches_the_server_once() {
    let server = CountingServer::start(Misbehave::Unavailable).await;
    let err = refund(&server.client()).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.processing(), Processing::MaybeProcessed);
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn refund_reset_after_sending_reaches_the_server_once() {
    let server = CountingServer::start(Misbehave::Reset).await;
    let err = refund(&server.client()).await.unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert_eq!(err.processing(), Processing::MaybeProcessed);
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn subscription_charge_and_payment_create_are_not_repeated_either() {
    let server = CountingServer::start(Misbehave::Unavailable).await;
    let client = server.client();
    for path in ["/subscriptions/sub_1/charge", "/payments", "/checkouts"] {
        let call: Call<serde_json::Value> = Call::json(
            &client,
            RequestSpec::new(Method::POST, Ok(path.into()))
                .json(&serde_json::json!({"product_price": 100})),
        );
        call.await.unwrap_err();
    }
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn rate_limited_refund_is_retried_because_it_was_not_processed() {
    let server = CountingServer::start(Misbehave::RateLimitedOnce).await;
    let value = refund(&server.client()).await.unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn get_answered_503_is_retried() {
    let server = CountingServer::start(Misbehave::Unavailable).await;
    let err = retrieve(&server.client()).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    // The first attempt plus the two default retries.
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn connection_refused_post_is_retried_and_not_processed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::builder()
        .api_key("k")
        .base_url(format!("http://{addr}"))
        .retry_budget(None)
        .build()
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), refund(&client))
        .await
        .expect("retries of a refused connection end")
        .unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert_eq!(err.processing(), Processing::NotProcessed);
}

#[tokio::test]
async fn ingest_is_retried_because_event_ids_deduplicate_it() {
    let server = CountingServer::start(Misbehave::Unavailable).await;
    let client = server.client();
    let body = dodo_client::types::IngestEventsRequest::new(vec![]);
    let err = client.usage_events().ingest(&body).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn explicit_opt_ins_retry_a_post() {
    // Per call: the caller asserts a repeat is harmless.
    let server = CountingServer::start(Misbehave::Unavailable).await;
    refund(&server.client())
        .assume_safe_to_repeat()
        .await
        .unwrap_err();
    assert_eq!(server.count(), 3);

    // Per client: a server known to honour Idempotency-Key gets one generated key.
    let server = CountingServer::start(Misbehave::Hang).await;
    let client = Client::builder()
        .api_key("k")
        .base_url(&server.base_url)
        .timeout(Duration::from_millis(200))
        .server_honours_idempotency_key(true)
        .build()
        .unwrap();
    refund(&client).await.unwrap_err();
    assert_eq!(server.count(), 3);
    assert_eq!(server.idempotency_headers.load(Ordering::SeqCst), 3);
}
