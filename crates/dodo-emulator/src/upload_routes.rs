//! HTTP routes that move uploaded bytes: the presigned upload URL, the public image URL, the
//! file download URL, and the multipart body of `POST /entitlements/{id}/files`.
//!
//! | route | who may call | what |
//! |---|---|---|
//! | `PUT /_emulator/uploads/{token}` | holder of the upload URL | stores the body with its `Content-Type` (single use, expiring, size-bounded; 403 / 413 otherwise) |
//! | `GET /_emulator/images/{image_id}` | anyone (like a CDN) | the image bytes with their content type |
//! | `GET /_emulator/files/{token}` | holder of the download URL | the file bytes with content type and file name |
//! | `POST /entitlements/{id}/files` | the API key | a `multipart/form-data` body with a `file` part attaches that file; any other body goes to the API dispatcher |
//!
//! These routes carry their own credential (the token in the path), so [`crate::auth`] exempts
//! them from the admin key. A multipart entitlement-file upload bypasses the dispatcher, so
//! fault rules do not apply to it (every other request to that path goes through it). The domain work is in [`crate::resources::uploads`] and
//! [`crate::resources::entitlements`]; this module only reads and writes HTTP.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::{any, get, put};
use http::header::{
    CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderValue,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::blobs::{self, Blob};
use crate::dispatch::AppState;
use crate::error::{ApiError, error_response};
use crate::resources::{Ctx, entitlements, uploads};

/// The routes of this module.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_emulator/uploads/{token}", put(upload))
        .route("/_emulator/images/{image_id}", get(image))
        .route("/_emulator/files/{token}", get(file))
        .route("/entitlements/{id}/files", any(entitlement_file))
}

const OCTET_STREAM: &str = "application/octet-stream";

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .unwrap_or(OCTET_STREAM)
        .to_string()
}

async fn upload(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let env = &state.env;
    let limit = match state
        .store
        .read(|db| uploads::limit_of(&Ctx { db, env }, &token))
    {
        Ok(n) => n,
        Err(e) => return error_response(&e),
    };
    let ct = content_type(req.headers());
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), limit).await else {
        return error_response(&uploads::too_large(limit));
    };
    let etag = format!(
        "\"{}\"",
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let done = state
        .store
        .write(|db| uploads::complete(&Ctx { db, env }, &token, &ct, bytes.to_vec()));
    match done {
        Ok(()) => {
            let mut r = Response::new(Body::empty());
            if let Ok(v) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(ETAG, v);
            }
            r
        }
        Err(e) => error_response(&e),
    }
}

fn serve_blob(blob: Blob) -> Response {
    let mut r = Response::new(Body::from(blob.bytes));
    let ct = HeaderValue::from_str(&blob.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static(OCTET_STREAM));
    r.headers_mut().insert(CONTENT_TYPE, ct);
    // Uploaded bytes are served from the emulator's origin (which also serves the checkout and
    // portal pages): never sniffed into another type, never run as a page.
    r.headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Some(name) = blob.file_name {
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' || *c == ' ')
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            r.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
    }
    r
}

async fn image(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.read(|db| blobs::public(db, &id)) {
        Ok(Some(blob)) => serve_blob(blob),
        Ok(None) => error_response(&ApiError::not_found("Image", &id)),
        Err(e) => error_response(&ApiError::from(e)),
    }
}

async fn file(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    match state.store.read(|db| blobs::by_token(db, &token)) {
        Ok(Some(blob)) => serve_blob(blob),
        Ok(None) => error_response(&ApiError::new(
            StatusCode::FORBIDDEN,
            "DOWNLOAD_URL_INVALID",
            "this download URL is not valid",
        )),
        Err(e) => error_response(&ApiError::from(e)),
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

async fn entitlement_file(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    if req.method() != Method::POST || !is_multipart(req.headers()) {
        return crate::dispatch::api(State(state), req).await;
    }
    match attach(&state, &id, req).await {
        Ok(file_id) => {
            let body = serde_json::json!({ "file_id": file_id }).to_string();
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = StatusCode::CREATED;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => error_response(&e),
    }
}

async fn attach(state: &AppState, id: &str, req: Request) -> Result<String, ApiError> {
    crate::auth::check_bearer(req.headers(), &state.api_key)?;
    let boundary = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| ApiError::invalid_field("file", "the multipart body has no boundary"))?;
    // Room for the part headers around a file of the maximum size.
    let limit = uploads::MAX_FILE_BYTES.saturating_add(64 * 1024);
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| uploads::too_large(uploads::MAX_FILE_BYTES))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| ApiError::invalid_field("file", e);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = uploads::clean_file_name(field.file_name().unwrap_or("file"));
        let ct = field
            .content_type()
            .map(ToString::to_string)
            .unwrap_or_else(|| OCTET_STREAM.to_string());
        let data = field.bytes().await.map_err(bad)?;
        let env = &state.env;
        return state.store.write(|db| {
            entitlements::attach_file(&Ctx { db, env }, id, &name, &ct, data.to_vec())
        });
    }
    Err(ApiError::invalid_field(
        "file",
        "is required (a multipart part named `file`)",
    ))
}
