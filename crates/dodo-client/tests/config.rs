//! Configuration: environment parsing (from a map, never the process env), base URL
//! resolution, clear errors for missing keys and ambiguity, and secret-free `Debug`.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use dodo_client::{Client, ClientBuilder, EnvConfig, Environment, LogLevel};
use support::{Reply, Server};

const KEY: &str = "sk_live_TOPSECRET_123";
const WEBHOOK_KEY: &str = "whsec_VERYSECRET_456";

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn builder(map: &HashMap<String, String>) -> Result<ClientBuilder, dodo_client::Error> {
    ClientBuilder::from_env_with(|k| map.get(k).cloned())
}

#[test]
fn env_defaults_to_live_mode() {
    let map = vars(&[("DODO_PAYMENTS_API_KEY", KEY)]);
    let client = builder(&map).unwrap().build().unwrap();
    assert_eq!(client.base_url(), "https://live.dodopayments.com");
    assert_eq!(client.webhook_key(), None);
    assert_eq!(client.timeout(), Duration::from_secs(60));
    assert_eq!(client.max_retries(), 2);
    assert_eq!(client.log_level(), LogLevel::Debug);
}

#[test]
fn env_selects_test_mode_webhook_key_and_log_level() {
    let map = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_ENVIRONMENT", "test_mode"),
        ("DODO_PAYMENTS_WEBHOOK_KEY", WEBHOOK_KEY),
        ("DODO_PAYMENTS_LOG", "debug"),
    ]);
    let client = builder(&map).unwrap().build().unwrap();
    assert_eq!(client.base_url(), "https://test.dodopayments.com");
    assert_eq!(client.webhook_key(), Some(WEBHOOK_KEY));
    assert_eq!(client.log_level(), LogLevel::Debug);
}

#[test]
fn webhook_secret_is_read_under_both_names_secret_first() {
    let only_secret = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_WEBHOOK_SECRET", WEBHOOK_KEY),
    ]);
    let client = builder(&only_secret).unwrap().build().unwrap();
    assert_eq!(client.webhook_key(), Some(WEBHOOK_KEY));

    let both = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_WEBHOOK_SECRET", WEBHOOK_KEY),
        ("DODO_PAYMENTS_WEBHOOK_KEY", "whsec_other"),
    ]);
    let client = builder(&both).unwrap().build().unwrap();
    assert_eq!(client.webhook_key(), Some(WEBHOOK_KEY));

    // An empty SECRET counts as unset, so KEY is used.
    let empty_secret = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_WEBHOOK_SECRET", " "),
        ("DODO_PAYMENTS_WEBHOOK_KEY", WEBHOOK_KEY),
    ]);
    let client = builder(&empty_secret).unwrap().build().unwrap();
    assert_eq!(client.webhook_key(), Some(WEBHOOK_KEY));
}

#[test]
fn env_base_url_and_empty_values() {
    let map = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_BASE_URL", "http://127.0.0.1:4010/"),
        ("DODO_PAYMENTS_ENVIRONMENT", "  "),
        ("DODO_PAYMENTS_WEBHOOK_KEY", ""),
    ]);
    let client = builder(&map).unwrap().build().unwrap();
    assert_eq!(client.base_url(), "http://127.0.0.1:4010");
    assert_eq!(client.webhook_key(), None);
}

#[test]
fn missing_key_is_a_config_error() {
    let err = builder(&vars(&[])).unwrap().build().unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().contains("DODO_PAYMENTS_API_KEY"), "{err}");
    let err = Client::builder().build().unwrap_err();
    assert!(err.is_config());
}

#[test]
fn base_url_and_environment_together_are_ambiguous() {
    let map = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_BASE_URL", "http://127.0.0.1:4010"),
        ("DODO_PAYMENTS_ENVIRONMENT", "test_mode"),
    ]);
    let err = builder(&map).unwrap().build().unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().contains("ambiguous"), "{err}");

    let err = Client::builder()
        .api_key(KEY)
        .base_url("http://127.0.0.1:1")
        .environment(Environment::LiveMode)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("ambiguous"));

    // Dropping the base URL resolves it.
    let client = builder(&map).unwrap().clear_base_url().build().unwrap();
    assert_eq!(client.base_url(), "https://test.dodopayments.com");
}

#[test]
fn invalid_env_values_are_named() {
    let err = builder(&vars(&[("DODO_PAYMENTS_ENVIRONMENT", "prod")])).unwrap_err();
    assert!(err.is_config());
    assert!(
        err.to_string().contains("DODO_PAYMENTS_ENVIRONMENT"),
        "{err}"
    );
    let err = builder(&vars(&[("DODO_PAYMENTS_LOG", "loud")])).unwrap_err();
    assert!(err.to_string().contains("DODO_PAYMENTS_LOG"), "{err}");
    let err = builder(&vars(&[("DODO_PAYMENTS_CUSTOM_HEADERS", "X-A: 1\nbroken")])).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = Client::builder()
        .api_key(KEY)
        .base_url("ftp://example.com")
        .build()
        .unwrap_err();
    assert!(err.is_config());
    let err = Client::builder()
        .api_key(KEY)
        .proxy("::not a url::")
        .build()
        .unwrap_err();
    assert!(err.is_config());
    let err = Client::builder()
        .api_key(KEY)
        .default_header("bad name", "v")
        .build()
        .unwrap_err();
    assert!(err.is_config());
}

#[test]
fn debug_output_never_contains_secrets() {
    let map = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_WEBHOOK_KEY", WEBHOOK_KEY),
        (
            "DODO_PAYMENTS_CUSTOM_HEADERS",
            "X-Secret-Token: hdr_SECRET_789",
        ),
    ]);
    let env = EnvConfig::from_lookup(|k| map.get(k).cloned()).unwrap();
    let b = builder(&map)
        .unwrap()
        .proxy("http://user:proxypass@127.0.0.1:3128");
    let client = b.clone().build().unwrap();
    for text in [
        format!("{env:?}"),
        format!("{b:?}"),
        format!("{b:#?}"),
        format!("{client:?}"),
        format!("{client:#?}"),
    ] {
        for secret in [KEY, "TOPSECRET", WEBHOOK_KEY, "hdr_SECRET_789", "proxypass"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert!(text.contains("***"), "{text}");
    }
}

#[tokio::test]
async fn env_custom_headers_are_sent_under_defaults() {
    let server = Server::start().await;
    let headers = "X-Env-One: one\nX-Shared: from-env\n";
    let map = vars(&[
        ("DODO_PAYMENTS_API_KEY", KEY),
        ("DODO_PAYMENTS_BASE_URL", &server.base_url),
        ("DODO_PAYMENTS_CUSTOM_HEADERS", headers),
    ]);
    let client = builder(&map)
        .unwrap()
        .default_header("X-Shared", "from-code")
        .build()
        .unwrap();
    server.push(Reply::json(200, serde_json::json!({})));
    let _: serde_json::Value = client.get("/brands").await.unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.header("x-env-one"), Some("one"));
    assert_eq!(req.header("x-shared"), Some("from-code"));
    assert_eq!(
        req.header("authorization").unwrap(),
        format!("Bearer {KEY}")
    );
}
