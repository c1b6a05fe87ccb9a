//! Payments (to be written).

use serde_json::Value;

use super::{Ctx, Registry};
use crate::error::ApiError;

/// Registers the handlers of this group.
pub fn register(_r: &mut Registry) {}

/// Settles a payment.
pub fn complete(_ctx: &Ctx<'_>, id: &str, _status: &str) -> Result<Value, ApiError> {
    Err(ApiError::not_found("Payment", id))
}
