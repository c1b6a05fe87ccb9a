//! Integration tests: real HTTP against the in-process emulator (127.0.0.1, port 0).

mod support;

mod addons;
mod admin;
mod catalog;
mod catalog_flows;
mod client;
mod credit_products;
mod credits;
mod customers;
mod discount_rules;
mod entitlements;
mod faults;
mod generic;
mod layers;
mod licenses;
mod localized;
mod on_demand;
mod payments;
mod payout_schedule;
mod persistence;
mod platform;
mod protocol;
mod settlement;
mod shapes;
mod subscriptions;
mod typed_inputs;
mod uploads;
mod usage;
mod webhooks;
