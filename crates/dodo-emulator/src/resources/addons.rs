//! addons handlers (to be written).

use super::Registry;

/// Registers the handlers of this group.
pub fn register(_r: &mut Registry) {}
