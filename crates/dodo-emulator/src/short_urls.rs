//! The short URLs of product short links (`GET /s/{slug}`): a `302 Found` to the link's full
//! URL (the product's static checkout link), or a JSON 404 for an unknown slug. The link
//! itself is created through the API ([`crate::resources::short_links`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};

use crate::dispatch::AppState;
use crate::error::{ApiError, error_response};
use crate::resources::{Ctx, short_links};

/// The short URL route.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/s/{slug}", get(follow))
}

async fn follow(State(state): State<Arc<AppState>>, Path(slug): Path<String>) -> Response {
    let target = state.store.read(|db| {
        short_links::resolve(
            &Ctx {
                db,
                env: &state.env,
            },
            &slug,
        )
    });
    match target {
        Ok(Some(url)) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Ok(None) => error_response(&ApiError::not_found("Short link", &slug)),
        Err(e) => error_response(&e),
    }
}
