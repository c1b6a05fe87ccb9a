//! Resource handlers, one module per resource group.
//!
//! A handler is a plain function of a [`Ctx`] (the locked database and the emulator's
//! environment) and an [`ApiRequest`], registered in the [`Registry`] under the operation's
//! method and path template. Each group module has a `register` function: that is the
//! extension point for adding domain logic to a group. An operation without a registered
//! handler answers 501 naming it (there is no generic fallback: an echo would hide bugs the
//! live API shows); [`Registry::unhandled`] lists such operations.

pub mod addon_carts;
pub mod addons;
pub mod amounts;
pub mod balances;
pub mod blocklist;
pub mod brands;
pub mod checkouts;
pub mod collections;
pub mod common;
pub mod credit_balances;
pub mod credit_cycles;
pub mod credit_entitlements;
pub mod credit_ledger;
pub mod credit_mappings;
pub mod credit_metering;
pub mod credit_purchases;
pub mod custom_fields;
pub mod customers;
pub mod discount_customers;
pub mod discounts;
pub mod disputes;
pub mod emails;
pub mod entitlements;
pub mod events;
pub mod invoices;
pub mod licenses;
pub mod localized_prices;
pub mod meters;
pub mod misc;
pub mod moderation;
pub mod payment_methods;
pub mod payment_retry;
pub mod payments;
pub mod payout_cycles;
pub mod payouts;
pub mod products;
pub mod refunds;
pub mod return_urls;
pub mod short_links;
pub mod subscription_carts;
pub mod subscriptions;
pub mod translations;
pub mod uploads;
pub mod usage;
pub mod usage_views;
pub mod wallets;
pub mod webhooks;

use std::collections::HashMap;

use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Db;

/// Facts about the running emulator that handlers need.
#[derive(Debug, Clone)]
pub struct Env {
    /// Business id stamped on objects.
    pub business_id: String,
    /// Base URL of the emulator (`http://127.0.0.1:PORT`), for links it hands out.
    pub base_url: String,
    /// The payout cycle and threshold ([`payout_cycles`]).
    pub payouts: payout_cycles::PayoutSchedule,
}

/// What a handler works with.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The database (locked for the duration of the handler; a transaction for writes).
    pub db: &'a Db<'a>,
    /// The emulator's environment.
    pub env: &'a Env,
}

impl Ctx<'_> {
    /// The emulator's current (virtual) time.
    pub fn now(&self) -> time::OffsetDateTime {
        self.db.clock().now()
    }

    /// The emulator's current time in the canonical format.
    pub fn now_string(&self) -> String {
        self.db.now_string()
    }
}

/// A resource handler.
pub type Handler = fn(&Ctx<'_>, &ApiRequest) -> Result<Reply, ApiError>;

/// Handlers by `(method, path template)`.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    map: HashMap<(&'static str, &'static str), Handler>,
    /// Operations registered more than once (the later handler replaced the earlier one).
    replaced: Vec<(&'static str, &'static str)>,
}

impl Registry {
    /// An empty registry (every operation answers 501).
    pub fn empty() -> Self {
        Self::default()
    }

    /// All domain handlers of this crate.
    pub fn standard() -> Self {
        let mut r = Self::default();
        customers::register(&mut r);
        products::register(&mut r);
        discounts::register(&mut r);
        payments::register(&mut r);
        refunds::register(&mut r);
        subscriptions::register(&mut r);
        licenses::register(&mut r);
        checkouts::register(&mut r);
        webhooks::register(&mut r);
        events::register(&mut r);
        meters::register(&mut r);
        brands::register(&mut r);
        addons::register(&mut r);
        invoices::register(&mut r);
        payment_methods::register(&mut r);
        disputes::register(&mut r);
        payouts::register(&mut r);
        balances::register(&mut r);
        blocklist::register(&mut r);
        moderation::register(&mut r);
        payment_retry::register(&mut r);
        entitlements::register(&mut r);
        uploads::register(&mut r);
        collections::register(&mut r);
        localized_prices::register(&mut r);
        translations::register(&mut r);
        short_links::register(&mut r);
        discount_customers::register(&mut r);
        misc::register(&mut r);
        credit_entitlements::register(&mut r);
        credit_ledger::register(&mut r);
        credit_balances::register(&mut r);
        wallets::register(&mut r);
        usage_views::register(&mut r);
        emails::register(&mut r);
        r
    }

    /// Registers (or replaces) the handler of an operation.
    pub fn add(&mut self, method: &'static str, path: &'static str, handler: Handler) {
        if self.map.insert((method, path), handler).is_some() {
            self.replaced.push((method, path));
        }
    }

    /// The handler of an operation, if one is registered.
    pub fn get(&self, method: &str, path: &str) -> Option<Handler> {
        self.map.get(&(method, path)).copied()
    }

    /// Registered `(method, path)` pairs.
    pub fn routes(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.map.keys().copied()
    }

    /// Registered `(method, path)` pairs that name no operation of `ops` (a mistyped path
    /// would otherwise never be reached), sorted.
    pub fn unknown_routes(
        &self,
        ops: &[crate::ops::Operation],
    ) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<_> = self
            .routes()
            .filter(|(m, p)| !ops.iter().any(|o| o.method == *m && o.path == *p))
            .collect();
        out.sort_unstable();
        out
    }
}

impl Registry {
    /// Operations registered twice: two groups claim the same operation and only the later
    /// handler runs (a merge slip, never intended).
    pub fn replaced(&self) -> &[(&'static str, &'static str)] {
        &self.replaced
    }

    /// Operations of `ops` without a registered handler (they answer 501), in table order.
    pub fn unhandled<'o>(
        &self,
        ops: &'o [crate::ops::Operation],
    ) -> Vec<&'o crate::ops::Operation> {
        ops.iter()
            .filter(|o| self.get(o.method, o.path).is_none())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_handler_names_an_operation_of_the_spec() {
        let registry = Registry::standard();
        assert!(registry.routes().count() > 50);
        assert_eq!(
            registry.unknown_routes(crate::ops::spec_operations()),
            Vec::<(&str, &str)>::new()
        );
    }

    #[test]
    fn no_operation_is_claimed_by_two_groups() {
        assert_eq!(Registry::standard().replaced(), &[] as &[(&str, &str)]);
    }

    /// Every operation of the spec (and the overlay) has domain logic: none answers 501.
    #[test]
    fn every_operation_of_the_spec_has_a_handler() {
        let registry = Registry::standard();
        let missing: Vec<String> = registry
            .unhandled(crate::ops::spec_operations())
            .iter()
            .map(|o| format!("{} {} ({})", o.method, o.path, o.operation_id))
            .collect();
        assert!(
            missing.is_empty(),
            "{} operations answer 501 (no handler):\n{}",
            missing.len(),
            missing.join("\n")
        );
    }

    #[test]
    fn a_mistyped_handler_path_is_reported() {
        fn h(_: &Ctx<'_>, _: &ApiRequest) -> Result<Reply, ApiError> {
            Ok(Reply::empty())
        }
        let mut registry = Registry::empty();
        registry.add("GET", "/customer/{customer_id}", h);
        registry.add("GET", "/customers/{customer_id}", h);
        assert_eq!(
            registry.unknown_routes(crate::ops::spec_operations()),
            vec![("GET", "/customer/{customer_id}")]
        );
    }
}
