//! Presigned uploads served by the emulator: upload URL → PUT the bytes → the parent shows the
//! image or file, which reads back with the same bytes and content type; forged, replayed,
//! expired and oversize uploads are refused.

use std::time::Duration;

use dodo_emulator::resources::uploads::{MAX_IMAGE_BYTES, UPLOAD_TTL_SECS};
use dodo_emulator::testing::Admin;
use dodo_types::models as m;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, Resp, s};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR emulator test image";

/// PUTs bytes to an upload URL the way a browser or S3 client would: no API key.
async fn put_bytes(url: &str, content_type: &str, bytes: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .put(url)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// An API `PUT` without a body (the image operations take none).
async fn put_empty(api: &Api, path: &str) -> Resp {
    api.send(api.request(Method::PUT, path)).await
}

async fn fetch(url: &str) -> (u16, Option<String>, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ct, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn product_image_upload_round_trips_bytes_and_content_type() {
    let api = Api::start().await;
    let p = api.one_time_product(500).await;
    let pid = s(&p["product_id"]);
    assert_eq!(p["image"], Value::Null);

    let r = put_empty(&api, &format!("/products/{pid}/images"))
        .await
        .expect(200);
    let issued: m::UpdateProductImageResponse = serde_json::from_value(r.body.clone()).unwrap();
    let image_id = issued.image_id.clone().unwrap();
    assert_eq!(image_id.len(), 36, "a UUID: {image_id}");
    let prefix = api.url("/_emulator/uploads/");
    assert!(issued.url.starts_with(&prefix), "{}", issued.url);
    // The token is 32 CSPRNG bytes, base64url: 43 characters.
    assert_eq!(issued.url.len() - prefix.len(), 43);

    let up = put_bytes(&issued.url, "image/png", PNG.to_vec()).await;
    assert_eq!(up.status(), 200);
    assert!(up.headers().get("etag").is_some());

    let product = api.get(&format!("/products/{pid}")).await.expect(200).body;
    let image_url = api.url(&format!("/_emulator/images/{image_id}"));
    assert_eq!(product["image"], image_url.as_str());
    let listed = api.get("/products").await.expect(200).body;
    assert_eq!(listed["items"][0]["image"], image_url.as_str());

    let (status, ct, bytes) = fetch(&image_url).await;
    assert_eq!(status, 200);
    let served = reqwest::get(&image_url).await.unwrap();
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert!(
        served.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(ct.as_deref(), Some("image/png"));
    assert_eq!(bytes, PNG);

    // Single use: a replay is refused and changes nothing.
    let replay = put_bytes(&issued.url, "image/jpeg", b"other".to_vec()).await;
    assert_eq!(replay.status(), 403);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["code"], "UPLOAD_URL_INVALID");
    assert_eq!(fetch(&image_url).await.2, PNG);

    // A second upload keeps the image id unless `force_update` asks for a new one.
    let again = put_empty(&api, &format!("/products/{pid}/images")).await;
    assert_eq!(again.expect(200).body["image_id"], image_id.as_str());
    let forced = put_empty(&api, &format!("/products/{pid}/images?force_update=true"))
        .await
        .expect(200)
        .body;
    assert_ne!(forced["image_id"], image_id.as_str());
    put_bytes(s(&forced["url"]), "image/webp", b"RIFF....WEBP".to_vec()).await;
    let product = api.get(&format!("/products/{pid}")).await.body;
    let new_url = api.url(&format!("/_emulator/images/{}", s(&forced["image_id"])));
    assert_eq!(product["image"], new_url.as_str());
    let (_, ct, bytes) = fetch(&new_url).await;
    assert_eq!(
        (ct.as_deref(), bytes.as_slice()),
        (Some("image/webp"), &b"RIFF....WEBP"[..])
    );
}

#[tokio::test]
async fn forged_expired_and_oversize_uploads_are_refused() {
    let api = Api::start().await;
    let p = api.one_time_product(500).await;
    let pid = s(&p["product_id"]);
    let issue = || async {
        put_empty(&api, &format!("/products/{pid}/images"))
            .await
            .expect(200)
            .body
    };

    let forged = put_bytes(
        &api.url("/_emulator/uploads/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(forged.status(), 403);

    // Oversize: 413, and the URL stays usable for a right-sized upload.
    let issued = issue().await;
    let url = s(&issued["url"]).to_string();
    let big = put_bytes(&url, "image/png", vec![0u8; MAX_IMAGE_BYTES + 1]).await;
    assert_eq!(big.status(), 413);
    assert_eq!(
        api.get(&format!("/products/{pid}")).await.body["image"],
        Value::Null
    );
    assert_eq!(
        put_bytes(&url, "image/png", PNG.to_vec()).await.status(),
        200
    );

    // Expired: upload URLs live UPLOAD_TTL_SECS of emulator time.
    let issued = issue().await;
    let admin = Admin::connect(api.emu.base_url(), api.emu.api_key()).unwrap();
    let secs = u64::try_from(UPLOAD_TTL_SECS).unwrap() + 1;
    admin
        .advance_clock(Duration::from_secs(secs))
        .await
        .unwrap();
    let late = put_bytes(s(&issued["url"]), "image/png", b"late".to_vec()).await;
    assert_eq!(late.status(), 403);
    let body: Value = late.json().await.unwrap();
    assert!(s(&body["message"]).contains("expired"), "{body}");

    // The exemption from the admin key covers only the token routes.
    let r = reqwest::get(api.url("/_emulator/faults")).await.unwrap();
    assert_eq!(r.status(), 401);
    // Unknown parents are 404, unknown images too.
    put_empty(&api, "/products/pdt_missing/images")
        .await
        .expect(404);
    put_empty(&api, "/product-collections/pdc_missing/images")
        .await
        .expect(404);
    assert_eq!(fetch(&api.url("/_emulator/images/nope")).await.0, 404);
}

#[tokio::test]
async fn addon_and_brand_images_show_on_their_parent() {
    let api = Api::start().await;
    let addon = api
        .post(
            "/addons",
            json!({"name": "Seat", "price": 300, "currency": "USD", "tax_category": "saas"}),
        )
        .await
        .expect(200)
        .body;
    let aid = s(&addon["id"]);
    let issued = put_empty(&api, &format!("/addons/{aid}/images"))
        .await
        .expect(200)
        .body;
    let typed: m::UpdateAddonImageResponse = serde_json::from_value(issued.clone()).unwrap();
    put_bytes(&typed.url, "image/gif", b"GIF89a".to_vec()).await;
    let addon = api.get(&format!("/addons/{aid}")).await.body;
    let (status, ct, bytes) = fetch(s(&addon["image"])).await;
    assert_eq!((status, ct.as_deref()), (200, Some("image/gif")));
    assert_eq!(bytes, b"GIF89a");

    let brands = api.get("/brands").await.expect(200).body;
    let bid = s(&brands["items"][0]["brand_id"]).to_string();
    let issued = put_empty(&api, &format!("/brands/{bid}/images"))
        .await
        .expect(200)
        .body;
    let typed: m::UpdateBrandImageResponse = serde_json::from_value(issued).unwrap();
    put_bytes(&typed.url, "image/svg+xml", b"<svg/>".to_vec()).await;
    let brand = api.get(&format!("/brands/{bid}")).await.body;
    assert_eq!(
        brand["image"],
        api.url(&format!("/_emulator/images/{}", typed.image_id))
            .as_str()
    );
    assert_eq!(fetch(s(&brand["image"])).await.2, b"<svg/>");
}

#[tokio::test]
async fn product_file_upload_joins_the_digital_delivery_and_downloads() {
    let api = Api::start().await;
    let p = api.one_time_product(900).await;
    let pid = s(&p["product_id"]);
    api.put(&format!("/products/{pid}/files"), json!({}))
        .await
        .expect(422);
    api.put(
        &format!("/products/{pid}/files"),
        json!({"file_name": "../x"}),
    )
    .await
    .expect(422);
    let issued = api
        .put(
            &format!("/products/{pid}/files"),
            json!({"file_name": "guide.pdf"}),
        )
        .await
        .expect(200)
        .body;
    let typed: m::UploadProductFileResponse = serde_json::from_value(issued).unwrap();
    let up = put_bytes(&typed.url, "application/pdf", b"%PDF-1.7 guide".to_vec()).await;
    assert_eq!(up.status(), 200);

    let product = api.get(&format!("/products/{pid}")).await.expect(200).body;
    let typed_product: m::GetProductResponse = serde_json::from_value(product.clone()).unwrap();
    let delivery = typed_product.digital_product_delivery.unwrap();
    assert_eq!(delivery.files.len(), 1);
    let f = &delivery.files[0];
    assert_eq!(f.file_id, typed.file_id);
    assert_eq!(f.filename, "guide.pdf");
    assert_eq!(f.file_size, Some(14));
    assert_eq!(f.content_type.as_deref(), Some("application/pdf"));
    let (status, ct, bytes) = fetch(&f.download_url).await;
    assert_eq!((status, ct.as_deref()), (200, Some("application/pdf")));
    assert_eq!(bytes, b"%PDF-1.7 guide");
    assert_eq!(fetch(&api.url("/_emulator/files/not-a-token")).await.0, 403);

    // The delivery's text is set by PATCH and its files narrowed to uploaded ones.
    api.patch(
        &format!("/products/{pid}"),
        json!({"digital_product_delivery": {"instructions": "Open with any PDF reader",
                                            "external_url": "https://example.com/guide"}}),
    )
    .await
    .expect(200);
    let r = api
        .patch(
            &format!("/products/{pid}"),
            json!({"digital_product_delivery": {"files": ["9b0c4c52-4e2e-4b55-9c4f-1e8f0f6b7a11"]}}),
        )
        .await
        .expect(422);
    assert!(r.body.to_string().contains("files[0]"), "{}", r.body);
    let delivery = &api.get(&format!("/products/{pid}")).await.body["digital_product_delivery"];
    assert_eq!(delivery["instructions"], "Open with any PDF reader");
    assert_eq!(delivery["external_url"], "https://example.com/guide");
    assert_eq!(
        delivery["files"][0]["file_id"],
        typed.file_id.as_str(),
        "unchanged"
    );
    api.patch(
        &format!("/products/{pid}"),
        json!({"digital_product_delivery": {"files": []}}),
    )
    .await
    .expect(200);
    let delivery = &api.get(&format!("/products/{pid}")).await.body["digital_product_delivery"];
    assert_eq!(delivery["files"], json!([]));
    assert_eq!(delivery["instructions"], "Open with any PDF reader");
    // On create, the text is kept from the start.
    let created = api
        .post(
            "/products",
            json!({"name": "Course", "tax_category": "edtech",
                   "digital_product_delivery": {"instructions": "Log in with your email"},
                   "price": {"type": "one_time_price", "price": 100, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        created["digital_product_delivery"],
        json!({"external_url": null, "instructions": "Log in with your email", "files": []})
    );

    // Reset prunes the uploaded bytes with the rest of the state.
    api.harness().reset().await.unwrap();
    assert_eq!(fetch(&f.download_url).await.0, 403);
}

#[tokio::test]
async fn uploaded_bytes_and_stored_links_survive_a_restart_on_another_port() {
    let path = std::env::temp_dir().join(format!(
        "dodo-emulator-uploads-{}-{}.sqlite3",
        std::process::id(),
        fastrand::u64(..)
    ));
    let config = || {
        dodo_emulator::EmulatorConfig::default().storage(dodo_emulator::Storage::File(path.clone()))
    };
    let api = Api::with(config()).await;
    let p = api.one_time_product(500).await;
    let pid = s(&p["product_id"]).to_string();
    let issued = put_empty(&api, &format!("/products/{pid}/images"))
        .await
        .expect(200)
        .body;
    put_bytes(s(&issued["url"]), "image/png", PNG.to_vec()).await;
    let first_origin = api.url("");
    let stored_image = api.get(&format!("/products/{pid}")).await.body["image"].clone();
    assert!(
        s(&stored_image).starts_with(&first_origin),
        "{stored_image}"
    );
    api.post(
        &format!("/products/{pid}/short_links"),
        json!({"slug": "restart", "static_checkout_params": {"quantity": "2"}}),
    )
    .await
    .expect(200);
    api.emu.shutdown().await;

    // The second run listens on another port (port 0 again): the links the first stored
    // follow it.
    let api = Api::with(config()).await;
    let url = api.url(&format!("/_emulator/images/{}", s(&issued["image_id"])));
    assert_eq!(
        api.get(&format!("/products/{pid}")).await.body["image"],
        url.as_str()
    );
    let (status, ct, bytes) = fetch(&url).await;
    assert_eq!((status, ct.as_deref()), (200, Some("image/png")));
    assert_eq!(bytes, PNG);
    let links = api.get("/products/short_links").await.expect(200).body;
    let link = &links["items"][0];
    assert_eq!(link["short_url"], api.url("/s/restart").as_str());
    let full = api.url(&format!("/buy/{pid}?quantity=2"));
    assert_eq!(link["full_url"], full.as_str());
    let page = reqwest::get(s(&link["short_url"])).await.unwrap();
    assert_eq!(
        (page.status().as_u16(), page.url().as_str()),
        (200, full.as_str())
    );
    api.emu.shutdown().await;
    for suffix in ["", "-wal", "-shm"] {
        let mut f = path.clone().into_os_string();
        f.push(suffix);
        let _ = std::fs::remove_file(f);
    }
}
