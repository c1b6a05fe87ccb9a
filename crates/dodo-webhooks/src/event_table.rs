//! The one table of Dodo webhook event types.
//!
//! Every per-type item in this crate (the [`EventType`](crate::EventType) variants, the
//! [`EventPayload`](crate::EventPayload) variants, the typed dispatcher methods such as
//! `on_payment_succeeded`) is generated from the `for_each_event!` table below, so adding an
//! event type is a one-line change. Columns: variant name, wire `type`, Corsair-style dotted
//! path, data object type, typed handler method name.
//!
//! Path mapping (Corsair's leaf names): the group before the first dot is pluralised and the
//! action is kept: `payment` → `payments`, `refund` → `refunds`, `dispute` → `disputes`,
//! `subscription` → `subscriptions`, `license_key` → `license_keys`, `payout` → `payouts`,
//! `credit` → `credits`, `abandoned_checkout` → `abandoned_checkouts`, `dunning` → `dunning`
//! (uncountable, unchanged), `entitlement_grant` → `entitlement_grants`.

/// Invokes `$callback! { (Variant, "wire.type", "dotted.path", DataType, on_method), ... }`
/// with all 48 event types, in the order of `webhook-events.tsv`.
macro_rules! for_each_event {
    ($callback:ident) => {
        $callback! {
            (PaymentSucceeded, "payment.succeeded", "payments.succeeded", Payment, on_payment_succeeded),
            (PaymentFailed, "payment.failed", "payments.failed", Payment, on_payment_failed),
            (PaymentProcessing, "payment.processing", "payments.processing", Payment, on_payment_processing),
            (PaymentCancelled, "payment.cancelled", "payments.cancelled", Payment, on_payment_cancelled),
            (RefundSucceeded, "refund.succeeded", "refunds.succeeded", Refund, on_refund_succeeded),
            (RefundFailed, "refund.failed", "refunds.failed", Refund, on_refund_failed),
            (DisputeOpened, "dispute.opened", "disputes.opened", Dispute, on_dispute_opened),
            (DisputeExpired, "dispute.expired", "disputes.expired", Dispute, on_dispute_expired),
            (DisputeAccepted, "dispute.accepted", "disputes.accepted", Dispute, on_dispute_accepted),
            (DisputeCancelled, "dispute.cancelled", "disputes.cancelled", Dispute, on_dispute_cancelled),
            (DisputeChallenged, "dispute.challenged", "disputes.challenged", Dispute, on_dispute_challenged),
            (DisputeWon, "dispute.won", "disputes.won", Dispute, on_dispute_won),
            (DisputeLost, "dispute.lost", "disputes.lost", Dispute, on_dispute_lost),
            (SubscriptionActive, "subscription.active", "subscriptions.active", Subscription, on_subscription_active),
            (SubscriptionRenewed, "subscription.renewed", "subscriptions.renewed", Subscription, on_subscription_renewed),
            (SubscriptionOnHold, "subscription.on_hold", "subscriptions.on_hold", Subscription, on_subscription_on_hold),
            (SubscriptionPastDue, "subscription.past_due", "subscriptions.past_due", Subscription, on_subscription_past_due),
            (SubscriptionPaused, "subscription.paused", "subscriptions.paused", Subscription, on_subscription_paused),
            (SubscriptionUnpaused, "subscription.unpaused", "subscriptions.unpaused", Subscription, on_subscription_unpaused),
            (SubscriptionCancelled, "subscription.cancelled", "subscriptions.cancelled", Subscription, on_subscription_cancelled),
            (SubscriptionFailed, "subscription.failed", "subscriptions.failed", Subscription, on_subscription_failed),
            (SubscriptionExpired, "subscription.expired", "subscriptions.expired", Subscription, on_subscription_expired),
            (SubscriptionPlanChanged, "subscription.plan_changed", "subscriptions.plan_changed", Subscription, on_subscription_plan_changed),
            (SubscriptionUpdated, "subscription.updated", "subscriptions.updated", Subscription, on_subscription_updated),
            (SubscriptionUpdatePaymentMethod, "subscription.update_payment_method", "subscriptions.update_payment_method", Subscription, on_subscription_update_payment_method),
            (LicenseKeyCreated, "license_key.created", "license_keys.created", LicenseKey, on_license_key_created),
            (PayoutCreated, "payout.created", "payouts.created", Payout, on_payout_created),
            (PayoutOnHold, "payout.on_hold", "payouts.on_hold", Payout, on_payout_on_hold),
            (PayoutInProgress, "payout.in_progress", "payouts.in_progress", Payout, on_payout_in_progress),
            (PayoutFailed, "payout.failed", "payouts.failed", Payout, on_payout_failed),
            (PayoutSuccess, "payout.success", "payouts.success", Payout, on_payout_success),
            (CreditAdded, "credit.added", "credits.added", CreditLedgerEntry, on_credit_added),
            (CreditDeducted, "credit.deducted", "credits.deducted", CreditLedgerEntry, on_credit_deducted),
            (CreditExpired, "credit.expired", "credits.expired", CreditLedgerEntry, on_credit_expired),
            (CreditRolledOver, "credit.rolled_over", "credits.rolled_over", CreditLedgerEntry, on_credit_rolled_over),
            (CreditRolloverForfeited, "credit.rollover_forfeited", "credits.rollover_forfeited", CreditLedgerEntry, on_credit_rollover_forfeited),
            (CreditOverageCharged, "credit.overage_charged", "credits.overage_charged", CreditLedgerEntry, on_credit_overage_charged),
            (CreditOverageReset, "credit.overage_reset", "credits.overage_reset", CreditLedgerEntry, on_credit_overage_reset),
            (CreditManualAdjustment, "credit.manual_adjustment", "credits.manual_adjustment", CreditLedgerEntry, on_credit_manual_adjustment),
            (CreditBalanceLow, "credit.balance_low", "credits.balance_low", CreditBalanceLow, on_credit_balance_low),
            (AbandonedCheckoutDetected, "abandoned_checkout.detected", "abandoned_checkouts.detected", AbandonedCheckout, on_abandoned_checkout_detected),
            (AbandonedCheckoutRecovered, "abandoned_checkout.recovered", "abandoned_checkouts.recovered", AbandonedCheckout, on_abandoned_checkout_recovered),
            (DunningStarted, "dunning.started", "dunning.started", DunningAttempt, on_dunning_started),
            (DunningRecovered, "dunning.recovered", "dunning.recovered", DunningAttempt, on_dunning_recovered),
            (EntitlementGrantCreated, "entitlement_grant.created", "entitlement_grants.created", EntitlementGrant, on_entitlement_grant_created),
            (EntitlementGrantDelivered, "entitlement_grant.delivered", "entitlement_grants.delivered", EntitlementGrant, on_entitlement_grant_delivered),
            (EntitlementGrantFailed, "entitlement_grant.failed", "entitlement_grants.failed", EntitlementGrant, on_entitlement_grant_failed),
            (EntitlementGrantRevoked, "entitlement_grant.revoked", "entitlement_grants.revoked", EntitlementGrant, on_entitlement_grant_revoked),
        }
    };
}

pub(crate) use for_each_event;
