//! The README's quick start, compiled by the test suite: the everyday operations of a
//! Dodo Payments integration (a customer, a checkout session, a subscription, usage events,
//! a webhook). Run it against the emulator:
//!
//! ```sh
//! dodo-dev emulator --print-env > .env.emulator && . ./.env.emulator
//! cargo run -p dodo-client --example everyday
//! ```

use dodo_client::types::{
    CreateCheckoutSessionRequest, CreateCustomerRequest, EventInput, IngestEventsRequest,
    PatchSubscriptionRequest, ProductItemReq,
};
use dodo_client::{BoxError, Client, Processing};

/// Everyday calls; returns the checkout URL to send the buyer to.
pub async fn everyday(client: &Client, product_id: &str) -> Result<Option<String>, BoxError> {
    // A customer.
    let customer = client
        .customers()
        .create(&CreateCustomerRequest::new(
            "ada@example.com",
            "Ada Lovelace",
        ))
        .await?;

    // A checkout session for one product (a subscription product starts a subscription).
    let session = client
        .checkout_sessions()
        .create(
            &CreateCheckoutSessionRequest::new(vec![ProductItemReq::new(product_id, 1)])
                .return_url("https://shop.example/thanks"),
        )
        .await?;

    // Usage events for metered billing: a known event_id is ignored by the API, so this
    // POST is retried safely after a timeout.
    let event = EventInput::new(&customer.customer_id, "evt_2026_12_03_0001", "api.call");
    client
        .usage_events()
        .ingest(&IngestEventsRequest::new(vec![event]))
        .await?;

    // A subscription: cancel at the end of the period.
    if let Ok(subscription_id) = std::env::var("SUBSCRIPTION_ID") {
        let patch = PatchSubscriptionRequest::new().cancel_at_next_billing_date(true);
        match client
            .subscriptions()
            .update(&subscription_id, &patch)
            .await
        {
            Ok(sub) => println!("ends {}", sub.next_billing_date),
            // A PATCH is safe to repeat, but say what happened when it is ambiguous.
            Err(e) if e.processing() == Processing::MaybeProcessed => {
                println!("may have been cancelled: check before telling the customer ({e})")
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(session.checkout_url)
}

/// A webhook: verify over the raw bytes with the client's webhook secret, then match.
pub fn on_webhook(client: &Client, headers: &http::HeaderMap, body: &[u8]) -> Result<(), BoxError> {
    use dodo_client::webhooks::EventPayload;
    let event = client.webhooks().verify_and_parse(body, headers)?;
    match event.payload {
        EventPayload::PaymentSucceeded(payment) => println!("{} paid", payment.payment_id),
        other => println!("ignored {}", other.event_type()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // DODO_PAYMENTS_API_KEY, DODO_PAYMENTS_BASE_URL (or _ENVIRONMENT), _WEBHOOK_SECRET.
    let client = Client::from_env()?;
    let product = std::env::var("PRODUCT_ID").unwrap_or_else(|_| "pdt_example".into());
    println!("checkout: {:?}", everyday(&client, &product).await?);
    Ok(())
}
