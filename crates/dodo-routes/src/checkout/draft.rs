//! [`CheckoutDraft`]: the API request a checkout flow is about to send.
//!
//! After the browser's request passed the [`BrowserPolicy`](super::BrowserPolicy), the
//! dynamic and session flows build the outgoing API request as a draft and hand it to the
//! merchant's hook (each adaptor's `before_create`, which gives the hook its framework's
//! request parts and app data). The hook may edit the draft (bind the signed-in user's
//! customer id, grant a trial the server decided) or refuse the request with its own
//! response. Nothing is created until it returns the draft.

use dodo_types::{
    AttachExistingCustomer, CreateCheckoutSessionRequest, CreateOneTimePaymentRequest,
    CreateSubscriptionRequest, CustomerRequest, Metadata, SubscriptionData,
};

/// The API request a checkout flow is about to send.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CheckoutDraft {
    /// Session flow: `POST /checkouts`.
    Session(Box<CreateCheckoutSessionRequest>),
    /// Dynamic flow, one-time product: `POST /payments` with `payment_link: true`.
    Payment(Box<CreateOneTimePaymentRequest>),
    /// Dynamic flow, subscription product: `POST /subscriptions` with `payment_link: true`.
    Subscription(Box<CreateSubscriptionRequest>),
}

impl CheckoutDraft {
    /// Binds an existing customer (replacing the new-customer details the browser sent).
    pub fn set_customer_id(&mut self, customer_id: impl Into<String>) {
        let customer = CustomerRequest::AttachExistingCustomer(AttachExistingCustomer {
            customer_id: customer_id.into(),
        });
        match self {
            CheckoutDraft::Session(r) => r.customer = Some(customer),
            CheckoutDraft::Payment(r) => r.customer = customer,
            CheckoutDraft::Subscription(r) => r.customer = customer,
        }
    }

    /// Sets a free trial for a subscription (the session's `subscription_data` or the
    /// subscription itself). Returns `false`, changing nothing, for a one-time payment.
    pub fn set_trial_period_days(&mut self, days: i64) -> bool {
        match self {
            CheckoutDraft::Session(r) => {
                r.subscription_data
                    .get_or_insert_with(SubscriptionData::new)
                    .trial_period_days = Some(days);
                true
            }
            CheckoutDraft::Subscription(r) => {
                r.trial_period_days = Some(days);
                true
            }
            CheckoutDraft::Payment(_) => false,
        }
    }

    /// The metadata sent with the object (created empty when absent).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        match self {
            CheckoutDraft::Session(r) => r.metadata.get_or_insert_with(Metadata::new),
            CheckoutDraft::Payment(r) => r.metadata.get_or_insert_with(Metadata::new),
            CheckoutDraft::Subscription(r) => r.metadata.get_or_insert_with(Metadata::new),
        }
    }
}
