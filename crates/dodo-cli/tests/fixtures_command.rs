//! `dodo-dev fixtures FILE` against the emulator in-process: a product, then a customer, then
//! a checkout for both, with references between them; and a bad file that creates nothing.

use std::process::Command;

use dodo_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

async fn fixtures(emu: &Emulator, file: &Value, extra: &[&str]) -> (bool, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "dodo-dev-fixtures-{}-{}",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.json");
    std::fs::write(&path, serde_json::to_vec_pretty(file).unwrap()).unwrap();
    let mut args = vec![
        "fixtures".to_string(),
        path.to_string_lossy().into_owned(),
        "--base-url".into(),
        emu.base_url().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let key = emu.api_key().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
            .args(&args)
            .env("DODO_PAYMENTS_API_KEY", key)
            .env("FIXTURE_EMAIL", "ada@example.com")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fastrand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn shop() -> Value {
    json!({"fixtures": [
        {"name": "book", "path": "/products", "params": {
            "name": "Book", "tax_category": "digital_products",
            "price": {"type": "one_time_price", "currency": "USD", "price": 1500, "discount": 0,
                      "purchasing_power_parity": false}}},
        {"name": "ada", "path": "/customers", "params": {"email": "${.env:FIXTURE_EMAIL}", "name": "Ada"}},
        {"name": "renamed", "method": "PATCH", "path": "/customers/${ada:customer_id}",
         "params": {"name": "Ada for ${book:name}"}},
        {"name": "checkout", "path": "/checkouts", "params": {
            "product_cart": [{"product_id": "${book:product_id}", "quantity": 2}],
            "customer": {"customer_id": "${ada:customer_id}"}}}
    ]})
}

async fn get(emu: &Emulator, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", emu.base_url()))
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_a_product_a_customer_and_a_checkout_that_refer_to_each_other() {
    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    let (ok, stdout, stderr) = fixtures(&emu, &shop(), &["--json"]).await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    let product_id = out["book"]["product_id"].as_str().unwrap();
    let customer_id = out["ada"]["customer_id"].as_str().unwrap();
    assert!(out["checkout"]["session_id"].as_str().is_some(), "{out}");
    assert!(out["checkout"]["checkout_url"].as_str().is_some(), "{out}");

    let customer = get(&emu, &format!("/customers/{customer_id}")).await;
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["name"], "Ada for Book");
    let product = get(&emu, &format!("/products/{product_id}")).await;
    assert_eq!(product["price"]["price"], 1500);
    let session = out["checkout"]["session_id"].as_str().unwrap();
    let checkout = get(&emu, &format!("/checkouts/{session}")).await;
    assert_eq!(
        checkout["id"].as_str().or(checkout["session_id"].as_str()),
        Some(session),
        "{checkout}"
    );

    // Text output: one line per fixture with the id it created.
    let (ok, stdout, _) = fixtures(&emu, &shop(), &[]).await;
    assert!(ok);
    assert!(stdout.contains("book: POST /products → pdt_"), "{stdout}");
    assert!(stdout.contains("ada: POST /customers → cus_"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reference_creates_nothing_and_a_refused_request_lists_what_was_created() {
    let emu = Emulator::start(EmulatorConfig::default().port(0))
        .await
        .unwrap();
    let mut typo = shop();
    typo["fixtures"][3]["params"]["customer"]["customer_id"] = json!("${adda:customer_id}");
    let (ok, _, stderr) = fixtures(&emu, &typo, &[]).await;
    assert!(!ok);
    assert!(
        stderr.contains("`${adda:...}` names no earlier fixture"),
        "{stderr}"
    );
    assert_eq!(
        get(&emu, "/products").await["items"],
        json!([]),
        "nothing created"
    );

    let mut refused = shop();
    refused["fixtures"][1]["params"] = json!({"name": "no email"});
    let (ok, _, stderr) = fixtures(&emu, &refused, &[]).await;
    assert!(!ok);
    assert!(stderr.contains("fixture `ada`"), "{stderr}");
    assert!(stderr.contains("422") || stderr.contains("400"), "{stderr}");
    assert!(stderr.contains("already created: book = pdt_"), "{stderr}");
}
