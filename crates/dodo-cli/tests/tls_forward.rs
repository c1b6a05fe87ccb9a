//! `dodo-dev trigger --forward-to https://...` against a local https receiver with a
//! self-signed certificate: delivered and verified when the certificate is trusted with
//! `--ca-cert`, refused with the TLS cause in the error otherwise.

use std::convert::Infallible;
use std::process::Command;
use std::sync::{Arc, Mutex};

use dodo_webhooks::{EventType, Verifier, WebhookEvent};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

type Seen = Arc<Mutex<Vec<(hyper::HeaderMap, Bytes)>>>;

/// Serves `POST /hook` over TLS with a fresh self-signed certificate for 127.0.0.1 and
/// localhost; returns the URL, the certificate's PEM and what it received.
async fn https_receiver() -> (String, String, Seen) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("self-signed certificate");
    let pem = cert.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server certificate");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let store = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let store = store.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let store = store.clone();
                    async move {
                        let headers = req.headers().clone();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        store.lock().unwrap().push((headers, body));
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"secure thanks",
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://127.0.0.1:{}/hook", addr.port()), pem, seen)
}

fn dodo_dev(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
        .args(args)
        .env_remove("DODO_EMULATOR_URL")
        .env_remove("DODO_PAYMENTS_WEBHOOK_SECRET")
        .env_remove("DODO_PAYMENTS_WEBHOOK_KEY")
        .env_remove("DODO_WEBHOOK_SECRET")
        .output()
        .expect("run dodo-dev");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_to_https_works_with_a_trusted_self_signed_certificate() {
    let (url, pem, seen) = https_receiver().await;
    let dir = std::env::temp_dir().join(format!("dodo-dev-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("receiver.pem");
    std::fs::write(&ca, &pem).unwrap();
    let ca = ca.to_string_lossy().into_owned();

    let (ok, stdout, stderr) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            dodo_dev(&[
                "trigger",
                "payment.succeeded",
                "--forward-to",
                &url,
                "--secret",
                SECRET,
                "--ca-cert",
                &ca,
            ])
        }
    })
    .await
    .unwrap();
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("answer: 200 secure thanks"), "{stdout}");
    let (headers, body) = seen.lock().unwrap()[0].clone();
    let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
    Verifier::from_secret(SECRET)
        .unwrap()
        .verify_parts(
            &h("webhook-id"),
            &h("webhook-timestamp"),
            &h("webhook-signature"),
            &body,
        )
        .unwrap();
    assert_eq!(
        WebhookEvent::parse(&body).unwrap().event_type(),
        EventType::PaymentSucceeded
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_with_the_tls_cause() {
    let (url, _pem, seen) = https_receiver().await;
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        dodo_dev(&[
            "trigger",
            "payment.succeeded",
            "--forward-to",
            &url,
            "--secret",
            SECRET,
        ])
    })
    .await
    .unwrap();
    assert!(!ok, "stdout: {stdout}");
    assert!(stderr.contains("request to https://127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("caused by:"), "{stderr}");
    assert!(
        stderr.contains("invalid peer certificate") && stderr.contains("UnknownIssuer"),
        "the TLS cause is shown: {stderr}"
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing was delivered");
}
