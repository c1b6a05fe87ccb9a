//! Routes added on top of the API and the base admin API: webhook deliveries
//! ([`crate::delivery`]), triggers, the virtual clock, and the hosted checkout and portal pages.

use std::sync::Arc;

use axum::Router;

use crate::dispatch::AppState;

/// All extension routes (merged by the server before the API fallback).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .merge(crate::delivery::routes())
        .merge(crate::timewarp::routes())
        .merge(crate::triggers::routes())
        .merge(crate::hosted::routes())
        .merge(crate::portal::routes())
        .merge(crate::upload_routes::routes())
        .merge(crate::short_urls::routes())
}
