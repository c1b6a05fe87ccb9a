use dodo_emulator::{EmulatorConfig, Storage};
use serde_json::json;

use crate::support::{Api, s};

struct TempDb(std::path::PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[tokio::test]
async fn state_and_webhook_secret_survive_a_restart() {
    let db = TempDb(std::env::temp_dir().join(format!(
        "dodo-emulator-test-{}-{}.sqlite3",
        std::process::id(),
        fastrand::u64(..)
    )));
    let config = || EmulatorConfig::default().storage(Storage::File(db.0.clone()));

    let api = Api::with(config()).await;
    let c = api.customer("persist@example.com").await;
    let id = s(&c["customer_id"]).to_string();
    let product = api.one_time_product(100).await;
    let secret = api.emu.webhook_secret().to_string();
    assert!(secret.starts_with("whsec_"));
    let brands = api.get("/brands").await.body;
    api.emu.shutdown().await;

    let api = Api::with(config()).await;
    assert_eq!(api.emu.webhook_secret(), secret);
    let got = api.get(&format!("/customers/{id}")).await.expect(200).body;
    assert_eq!(got, c);
    assert_eq!(
        api.get("/brands").await.body,
        brands,
        "no second default brand"
    );
    assert_eq!(
        api.get("/products").await.body["items"][0]["product_id"],
        product["product_id"]
    );
    let c2 = api.customer("after@example.com").await;
    let list = api.get("/customers").await.body;
    assert_eq!(list["items"][0]["customer_id"], c2["customer_id"]);
    assert_eq!(list["items"][1]["customer_id"], id.as_str());
    api.emu.shutdown().await;
    let _ = json!(null);
}
