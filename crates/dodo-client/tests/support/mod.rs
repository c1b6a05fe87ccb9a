//! Test support: a scripted HTTP server on 127.0.0.1:0 that records every request and
//! answers with queued replies (or a responder function when the queue is empty).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// The API key every test client uses.
pub const API_KEY: &str = "sk_test_SUPERSECRET_4242";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Raw path as sent on the wire (percent-encoding preserved).
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Decoded query pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(self.query.as_deref().unwrap_or("")).unwrap()
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A scripted reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: None,
        }
    }

    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Reply::status(status)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&value).unwrap())
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Default)]
struct Inner {
    queue: VecDeque<Reply>,
    requests: Vec<Recorded>,
    responder: Option<Responder>,
}

/// The running server.
#[derive(Clone)]
pub struct Server {
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Server {
    /// Starts a server answering from the queue (418 when the queue is empty).
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base_url: format!("http://{addr}"),
            inner,
        }
    }

    /// Starts a server that answers with `responder` when nothing is queued.
    pub async fn with_responder(
        responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let server = Server::start().await;
        server.inner.lock().unwrap().responder = Some(Arc::new(responder));
        server
    }

    pub fn push(&self, reply: Reply) -> &Self {
        self.inner.lock().unwrap().queue.push_back(reply);
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// A builder pointed at this server with the test key, no auto-retry delays changed.
    pub fn builder(&self) -> dodo_client::ClientBuilder {
        dodo_client::Client::builder()
            .api_key(API_KEY)
            .base_url(&self.base_url)
    }

    pub fn client(&self) -> dodo_client::Client {
        self.builder().build().unwrap()
    }
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    let reply = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(recorded.clone());
        match inner.queue.pop_front() {
            Some(reply) => reply,
            None => match &inner.responder {
                Some(responder) => responder(&recorded),
                None => Reply::status(418).body("unscripted"),
            },
        }
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

/// An address on which nothing listens (connection refused).
pub async fn dead_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
