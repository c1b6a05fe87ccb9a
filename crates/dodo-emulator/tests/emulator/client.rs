//! The typed `dodo-client` against the emulator.

use dodo_client::types::{CreateCustomerRequest, ListCustomersQuery, PatchCustomerRequest};
use dodo_client::{Client, RequestOptions};

use crate::support::Api;

fn client(api: &Api) -> Client {
    Client::builder()
        .api_key(api.emu.api_key())
        .base_url(api.emu.base_url())
        .max_retries(2)
        .build()
        .unwrap()
}

#[tokio::test]
async fn typed_client_creates_retrieves_updates_and_lists_customers() {
    let api = Api::start().await;
    let client = client(&api);
    let mut ids = Vec::new();
    for i in 0..12 {
        let c = client
            .customers()
            .create(&CreateCustomerRequest::new(
                format!("typed{i}@example.com"),
                format!("Typed {i}"),
            ))
            .await
            .unwrap();
        assert!(c.customer_id.starts_with("cus_"));
        ids.push(c.customer_id);
    }
    let got = client.customers().retrieve(&ids[3]).await.unwrap();
    assert_eq!(got.email, "typed3@example.com");
    let updated = client
        .customers()
        .update(&ids[3], &PatchCustomerRequest::default().name("Renamed"))
        .await
        .unwrap();
    assert_eq!(updated.name, "Renamed");

    let first = client
        .customers()
        .list(&ListCustomersQuery::default())
        .await
        .unwrap();
    assert_eq!(first.items.len(), 10);
    assert_eq!(first.items[0].customer_id, ids[11]);
    assert_eq!(first.page_number(), Some(0));
    let all = client
        .customers()
        .list(&ListCustomersQuery::default())
        .collect_all()
        .await
        .unwrap();
    let mut walked: Vec<_> = all.into_iter().map(|c| c.customer_id).collect();
    walked.reverse();
    assert_eq!(walked, ids, "every customer once, newest first");

    let err = client
        .customers()
        .retrieve("cus_missing")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.request_id().is_some_and(|r| r.starts_with("req_")));
    let _ = RequestOptions::default();
}

/// One 503 (retry after 0 s) on `/customers`.
fn customers_503() -> dodo_emulator::faults::FaultSpec {
    dodo_emulator::faults::FaultSpec::status(503)
        .path_prefix("/customers")
        .retry_after(0)
}

#[tokio::test]
async fn a_post_answered_503_is_not_repeated_by_default() {
    let api = Api::start().await;
    api.harness().add_fault(&customers_503()).await.unwrap();
    let client = client(&api);
    let err = client
        .customers()
        .create(&CreateCustomerRequest::new("retry@example.com", "Retry"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.may_have_been_processed());
    let listed = client
        .customers()
        .list(&ListCustomersQuery::default())
        .await
        .unwrap();
    assert!(
        listed.items.is_empty(),
        "the one attempt was refused by the fault"
    );
}

#[tokio::test]
async fn with_key_replay_on_both_sides_a_post_is_retried_through_a_503() {
    let api =
        Api::with(dodo_emulator::EmulatorConfig::default().replay_idempotency_key(true)).await;
    api.harness().add_fault(&customers_503()).await.unwrap();
    let client = Client::builder()
        .api_key(api.emu.api_key())
        .base_url(api.emu.base_url())
        .server_honours_idempotency_key(true)
        .build()
        .unwrap();
    let c = client
        .customers()
        .create(&CreateCustomerRequest::new("retry@example.com", "Retry"))
        .await
        .unwrap();
    let listed = client
        .customers()
        .list(&ListCustomersQuery::default())
        .await
        .unwrap();
    assert_eq!(
        listed.items.len(),
        1,
        "the retried POST created exactly one customer"
    );
    assert_eq!(listed.items[0].customer_id, c.customer_id);
}

/// Fields the spec documents as "send `null` to remove" are cleared by the typed client's
/// `clear_…` setters (they send `null`), kept when absent, and set by the plain setters.
#[tokio::test]
#[allow(deprecated)] // `PATCH /license_keys/{id}` is deprecated but still served and documented.
async fn typed_patches_clear_fields_whose_null_the_spec_documents() {
    use dodo_client::types::{
        CreateDiscountRequest, CreateLicenseKeyRequest, DiscountType, PatchDiscountRequest,
        PatchLicenseKeyRequest,
    };
    let api = Api::start().await;
    let client = client(&api);
    let customer = api.customer("clear@example.com").await;
    let product = api.one_time_product(100).await;
    let expiry = time::macros::datetime!(2031-01-02 03:04:05 UTC);
    let key = client
        .license_keys()
        .create(
            &CreateLicenseKeyRequest::new(
                customer["customer_id"].as_str().unwrap(),
                "KEY-CLEAR",
                product["product_id"].as_str().unwrap(),
            )
            .activations_limit(3)
            .expires_at(expiry),
        )
        .await
        .unwrap();
    assert_eq!(
        (key.activations_limit, key.expires_at),
        (Some(3), Some(expiry))
    );

    // Absent fields stay as they are.
    let kept = client
        .license_keys()
        .update(&key.id, &PatchLicenseKeyRequest::new().disabled(false))
        .await
        .unwrap();
    assert_eq!(
        (kept.activations_limit, kept.expires_at),
        (Some(3), Some(expiry))
    );
    // `null` removes the limit and the expiry.
    let cleared = client
        .license_keys()
        .update(
            &key.id,
            &PatchLicenseKeyRequest::new()
                .clear_activations_limit()
                .clear_expires_at(),
        )
        .await
        .unwrap();
    assert_eq!(
        (cleared.activations_limit, cleared.expires_at),
        (None, None)
    );
    let stored = api.get(&format!("/license_keys/{}", key.id)).await.body;
    assert!(stored["activations_limit"].is_null() && stored["expires_at"].is_null());
    let set = client
        .license_keys()
        .update(&key.id, &PatchLicenseKeyRequest::new().activations_limit(5))
        .await
        .unwrap();
    assert_eq!((set.activations_limit, set.expires_at), (Some(5), None));

    let start = time::macros::datetime!(2020-01-01 00:00:00 UTC);
    let discount = client
        .discounts()
        .create(
            &CreateDiscountRequest::new(1000, DiscountType::Percentage)
                .per_customer_usage_limit(1)
                .starts_at(start),
        )
        .await
        .unwrap();
    assert_eq!(discount.per_customer_usage_limit, Some(1));
    let cleared = client
        .discounts()
        .update(
            &discount.discount_id,
            &PatchDiscountRequest::new()
                .clear_per_customer_usage_limit()
                .clear_starts_at(),
        )
        .await
        .unwrap();
    assert_eq!(
        (cleared.per_customer_usage_limit, cleared.starts_at),
        (None, None)
    );
    assert_eq!(cleared.amount, 1000);
}
