//! The one place that names the store's tables ([`SCHEMA`]) and its object kinds ([`kind`]).
//!
//! `objects` holds every emulated object as JSON, keyed by `(kind, id)`; `meta` is a key/value
//! table; `idempotency` is the `Idempotency-Key` replay log; `emu_events` is the webhook
//! outbox written in the same transaction as the change, `emu_deliveries` one delivery per
//! event and endpoint, `emu_attempts` the attempt log. Every module refers to kinds through
//! [`kind`], never by string.

/// Every table of the store (the one place naming them): `objects`, `meta`, `idempotency`,
/// and the webhook outbox `emu_events` with its `emu_deliveries` and `emu_attempts`.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    state TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS objects_kind_seq ON objects (kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS emu_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    data TEXT NOT NULL,
    fanned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS emu_events_fanned ON emu_events (fanned, seq);
CREATE TABLE IF NOT EXISTS emu_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS emu_deliveries_due ON emu_deliveries (status, next_at_ms);
CREATE TABLE IF NOT EXISTS emu_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at TEXT NOT NULL,
    webhook_timestamp INTEGER NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    error TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS emu_attempts_delivery ON emu_attempts (delivery_id, n);
CREATE TABLE IF NOT EXISTS emu_blobs (
    id TEXT PRIMARY KEY,
    public INTEGER NOT NULL,
    download_token TEXT UNIQUE,
    file_name TEXT,
    content_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_at TEXT NOT NULL
);
";

/// Every store kind (the `kind` column of `objects`; also the `kind` values accepted by
/// `/_emulator/seed`).
pub mod kind {
    /// Customers (`cus_`).
    pub const CUSTOMER: &str = "customer";
    /// Products (`pdt_`).
    pub const PRODUCT: &str = "product";
    /// Discounts (`dsc_`).
    pub const DISCOUNT: &str = "discount";
    /// Payments (`pay_`).
    pub const PAYMENT: &str = "payment";
    /// Refunds (`ref_`).
    pub const REFUND: &str = "refund";
    /// Subscriptions (`sub_`).
    pub const SUBSCRIPTION: &str = "subscription";
    /// License keys (`lic_`).
    pub const LICENSE_KEY: &str = "license_key";
    /// License key instances (`lki_`).
    pub const LICENSE_KEY_INSTANCE: &str = "license_key_instance";
    /// Checkout sessions (`cks_`).
    pub const CHECKOUT_SESSION: &str = "checkout_session";
    /// Customer portal sessions (id = the `cps_` token).
    pub const PORTAL_SESSION: &str = "portal_session";
    /// Short URLs of payment links and checkout URLs (id = slug): `{short_url, full_url}`.
    pub const LINK_SHORT_URL: &str = "link_short_url";
    /// Where a payment link returns the buyer (id = payment id): `{return_url}`.
    pub const PAYMENT_RETURN_URL: &str = "payment_return_url";
    /// The request a checkout session was created with (id = session id), for its page.
    pub const CHECKOUT_SESSION_REQUEST: &str = "checkout_session_request";
    /// Webhook endpoints (`whk_`).
    pub const WEBHOOK: &str = "webhook";
    /// Webhook endpoint secrets (id = webhook id).
    pub const WEBHOOK_SECRET: &str = "webhook_secret";
    /// Webhook endpoint custom headers (id = webhook id).
    pub const WEBHOOK_HEADERS: &str = "webhook_headers";
    /// Usage events (id = the caller's `event_id`).
    pub const EVENT: &str = "event";
    /// Meters (`mtr_`).
    pub const METER: &str = "meter";
    /// Brands (`brnd_`).
    pub const BRAND: &str = "brand";
    /// Addons (`adn_`).
    pub const ADDON: &str = "addon";
    /// Line items of payments (id = payment id).
    pub const PAYMENT_LINES: &str = "payment_lines";
    /// Per-subscription card flags of the virtual clock (id = subscription id).
    pub const CARD: &str = "emu_card";
    /// Endpoints registered through the admin API.
    pub const ADMIN_ENDPOINT: &str = "emu_endpoint";
    /// Credit ledger entries created by triggers.
    pub const CREDIT_LEDGER_ENTRY: &str = "credit_ledger_entry";
    /// `credit.balance_low` notices.
    pub const CREDIT_BALANCE_LOW: &str = "credit_balance_low";
    /// Abandoned checkouts.
    pub const ABANDONED_CHECKOUT: &str = "abandoned_checkout";
    /// Dunning attempts.
    pub const DUNNING_ATTEMPT: &str = "dunning_attempt";
    /// Disputes (`dp_`), opened by the platform (triggers); `GET /disputes[/{id}]`.
    pub const DISPUTE: &str = "dispute";
    /// Payouts (`pyt_`), made by the platform from settled payments; `GET /payouts`.
    pub const PAYOUT: &str = "payout";
    /// The rows a payout settled (id = payout id): payments, refunds, fees.
    pub const PAYOUT_ROWS: &str = "payout_rows";
    /// The payout schedule's next billing period not yet closed (one record, id `cursor`).
    pub const PAYOUT_CYCLE: &str = "payout_cycle";
    /// Saved payment methods (`pm_`, parent = customer id), saved from succeeded payments.
    pub const PAYMENT_METHOD: &str = "payment_method";
    /// Manual retries of a failed payment (id = payment id): `{sends_used, last_at}`.
    pub const PAYMENT_RETRY: &str = "payment_retry";
    /// Blocklist entries (`blk_`) with their notes.
    pub const BLOCKED_CUSTOMER: &str = "blocked_customer";
    /// Content screenings (`mod_`) of `POST /moderation/screen`, counted by `/moderation/usage`.
    pub const MODERATION_SCREEN: &str = "moderation_screen";
    /// Entitlement grants (served by `GET /customers/{id}/entitlement-grants`).
    pub const ENTITLEMENT_GRANT: &str = "generic:/customers/{}/entitlement-grants";
    /// Entitlements (`ent_`).
    pub const ENTITLEMENT: &str = "entitlement";
    /// Pending presigned uploads (id = SHA-256 of the upload token; bytes land in `emu_blobs`).
    pub const UPLOAD: &str = "emu_upload";
    /// Product collections (`pdc_`), their groups and items nested in the object.
    pub const PRODUCT_COLLECTION: &str = "product_collection";
    /// Localized prices of products (`lcp_`; parent = product id).
    pub const LOCALIZED_PRICE: &str = "localized_price";
    /// Translations (id = `{parent kind}/{parent id}/{locale}`; parent = `{parent kind}/{parent id}`).
    pub const TRANSLATION: &str = "translation";
    /// Short links of products (id = the slug).
    pub const SHORT_LINK: &str = "short_link";
    /// One redemption of a discount (`dsr_`; parent = discount id): `{discount_id,
    /// customer_id}`, counted for `per_customer_usage_limit`.
    pub const DISCOUNT_REDEMPTION: &str = "emu_discount_redemption";
    /// The discounts a scheduled plan change puts on its subscription (id = subscription id):
    /// `{replace, stack}` (`replace: false` keeps the discounts preserved on plan changes).
    pub const SCHEDULED_DISCOUNTS: &str = "emu_scheduled_discounts";
    /// Customers attached to a discount (id = `{discount id}/{customer id}`; parent = discount id).
    pub const DISCOUNT_CUSTOMER: &str = "discount_customer";
    /// Credit entitlements (`cde_`; soft-deleted ones have state `deleted`).
    pub const CREDIT_ENTITLEMENT: &str = "credit_entitlement";
    /// Credit grants (`cgr_`; parent = `{credit_entitlement_id}/{customer_id}`).
    pub const CREDIT_GRANT: &str = "credit_grant";
    /// Per-customer credit balances (id = `{credit_entitlement_id}/{customer_id}`).
    pub const CREDIT_BALANCE: &str = "credit_balance";
    /// Used credit ledger `idempotency_key`s (id = the key; data = the entry it created).
    pub const CREDIT_IDEMPOTENCY: &str = "credit_idempotency";
    /// Customer wallets (id = `{customer_id}/{CURRENCY}`).
    pub const CUSTOMER_WALLET: &str = "customer_wallet";
    /// Customer wallet transactions (`cwt_`; parent = customer id).
    pub const WALLET_TRANSACTION: &str = "wallet_transaction";
    /// Used wallet ledger `idempotency_key`s (id = `{customer_id}/{key}`).
    pub const WALLET_IDEMPOTENCY: &str = "wallet_idempotency";
    /// The billing period a subscription's credits were last granted for (id =
    /// `{subscription_id}/{credit_entitlement_id}`).
    pub const CREDIT_CYCLE: &str = "credit_cycle";
    /// The checkout session `credits_amount` overrides kept for the subscription or payment
    /// the session created (id = that subscription or payment id).
    pub const CREDIT_OVERRIDE: &str = "credit_override";
    /// The email outbox (emails the emulator "sent"; [`crate::resources::emails`]).
    pub const EMAIL: &str = "emu_email";
}
