//! End-to-end webhook tests: state changes → signed deliveries to a real receiver, retries,
//! the delivery log, replay, triggers, the virtual clock and the hosted pages.

#[path = "../emulator/support.rs"]
#[allow(dead_code)]
mod support;

#[allow(dead_code)]
mod receiver;

mod clocks;
mod credits;
mod delivery;
mod entitlements;
mod form;
mod harness;
mod hosted;
mod limits;
mod localized_pages;
mod portal;
mod renewals;
mod static_links;
mod streams;
mod triggers;
