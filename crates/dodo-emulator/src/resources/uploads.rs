//! Presigned uploads of images and files, served by the emulator itself.
//!
//! `PUT /{products,addons,brands,product-collections}/{id}/images` and `PUT /products/{id}/files`
//! answer what the live API answers: an upload `url` plus the `image_id` / `file_id`. The URL is
//! the emulator's own `PUT /_emulator/uploads/{token}` (see [`crate::upload_routes`]), where the
//! token is 32 bytes from the operating system's CSPRNG, stored only as its SHA-256, good for
//! one upload within [`UPLOAD_TTL_SECS`] seconds of emulator time (the live API documents
//! "upload within 60 s"), and bounded to [`MAX_IMAGE_BYTES`] / [`MAX_FILE_BYTES`]. When the bytes
//! arrive ([`complete`]) they are kept with their `Content-Type` in the store's blob table
//! ([`crate::blobs`]) and the parent shows them: an image becomes the parent's `image` URL
//! (`/_emulator/images/{image_id}`, public, like the live CDN), a product file joins the
//! product's `digital_product_delivery.files` with a download URL carrying its own unguessable
//! token. Download URLs of the emulator stay valid while the file exists; `expires_in` reports
//! [`DOWNLOAD_TTL_SECS`].

use http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::blobs::{self, Access, Blob};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, State};

/// Seconds an upload URL stays valid (emulator time).
pub const UPLOAD_TTL_SECS: i64 = 60;
/// Largest image accepted by an upload URL (the live limit is not documented).
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Largest file accepted (the spec's per-file cap for entitlement files: 500 MiB).
pub const MAX_FILE_BYTES: usize = 500 * 1024 * 1024;
/// `expires_in` reported for download URLs.
pub const DOWNLOAD_TTL_SECS: i64 = 3600;
/// Path prefix of upload URLs.
pub const UPLOAD_PATH: &str = "/_emulator/uploads/";
/// Path prefix of public image URLs.
pub const IMAGE_PATH: &str = "/_emulator/images/";
/// Path prefix of file download URLs.
pub const FILE_PATH: &str = "/_emulator/files/";

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("PUT", "/products/{id}/images", product_image);
    r.add("PUT", "/addons/{id}/images", addon_image);
    r.add("PUT", "/brands/{id}/images", brand_image);
    r.add("PUT", "/product-collections/{id}/images", collection_image);
    r.add("PUT", "/products/{id}/files", product_file);
}

fn token_key(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The public URL of an image.
pub fn image_url(ctx: &Ctx<'_>, image_id: &str) -> String {
    format!("{}{IMAGE_PATH}{image_id}", ctx.env.base_url)
}

/// PATCH of a parent's `image_id` (addons, product collections): absent keeps the image,
/// `null` removes it, an id points `image` at that emulator image.
pub fn patch_image(ctx: &Ctx<'_>, parent: &mut Value, image_id: Option<&Option<String>>) {
    match image_id {
        Some(Some(id)) => parent["image"] = json!(image_url(ctx, id)),
        Some(None) => parent["image"] = Value::Null,
        None => {}
    }
}

/// The `DigitalProductDeliveryFile` / `ResolvedDigitalFile` of a stored file, `None` when
/// its bytes are gone.
pub fn file_entry(ctx: &Ctx<'_>, file_id: &str) -> Result<Option<Value>, ApiError> {
    let Some(meta) = ctx.db.get(kind::UPLOAD, &format!("file:{file_id}"))? else {
        return Ok(None);
    };
    let Some((size, content_type)) = blobs::describe(ctx.db, file_id)? else {
        return Ok(None);
    };
    Ok(Some(json!({
        "file_id": file_id,
        "filename": meta.data["file_name"],
        "content_type": content_type,
        "file_size": size,
        "download_url": format!("{}{FILE_PATH}{}", ctx.env.base_url,
            meta.data["download_token"].as_str().unwrap_or_default()),
        "expires_in": DOWNLOAD_TTL_SECS,
    })))
}

/// Stores a file's bytes under `file_id` with a fresh download token (files uploaded through
/// a presigned URL, and entitlement files attached directly).
pub fn store_file(
    ctx: &Ctx<'_>,
    file_id: &str,
    file_name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<(), ApiError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(MAX_FILE_BYTES));
    }
    let token = crate::ids::token();
    let now = ctx.now_string();
    let blob = Blob {
        id: file_id.to_string(),
        file_name: Some(file_name.to_string()),
        content_type: content_type.to_string(),
        bytes,
    };
    blobs::put(ctx.db, &blob, Access::Token(&token), &now)?;
    let meta = json!({"file_id": file_id, "file_name": file_name, "download_token": token});
    ctx.db
        .insert(kind::UPLOAD, &format!("file:{file_id}"), None, &now, &meta)?;
    Ok(())
}

/// Removes a stored file (its bytes and its download link).
pub fn remove_file(ctx: &Ctx<'_>, file_id: &str) -> Result<(), ApiError> {
    blobs::remove(ctx.db, file_id)?;
    ctx.db.delete(kind::UPLOAD, &format!("file:{file_id}"))?;
    Ok(())
}

/// A file name from an uploader made safe to keep and to send back in a
/// `Content-Disposition`: its last path component, control characters dropped, at most 255
/// characters; `file` when nothing is left.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "file".to_string()
    } else {
        trimmed.to_string()
    }
}

/// 413 naming the limit.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("the upload exceeds {limit} bytes"),
    )
}

/// What an upload URL will write to.
struct Target<'a> {
    /// `product_image`, `addon_image`, `brand_image`, `collection_image` or `product_file`.
    what: &'a str,
    parent_kind: &'a str,
    parent_id: &'a str,
    object_id: &'a str,
    file_name: Option<&'a str>,
    max_bytes: usize,
}

/// Issues an upload URL for `target` (and forgets URLs that have expired).
fn issue(ctx: &Ctx<'_>, t: &Target<'_>) -> Result<String, ApiError> {
    let stale = ctx.db.list(
        kind::UPLOAD,
        &[Filter::Lte("$.expires_at", ctx.now_string())],
        100,
        0,
    )?;
    for r in stale {
        ctx.db.delete(kind::UPLOAD, &r.id)?;
    }
    let token = crate::ids::token();
    let expires = ctx.now() + time::Duration::seconds(UPLOAD_TTL_SECS);
    let now = ctx.now_string();
    let data = json!({
        "what": t.what,
        "parent_kind": t.parent_kind,
        "parent_id": t.parent_id,
        "object_id": t.object_id,
        "file_name": t.file_name,
        "max_bytes": t.max_bytes,
        "expires_at": crate::clock::format(expires),
    });
    ctx.db
        .insert(kind::UPLOAD, &token_key(&token), None, &now, &data)?;
    Ok(format!("{}{UPLOAD_PATH}{token}", ctx.env.base_url))
}

fn refused(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "UPLOAD_URL_INVALID", message)
}

/// The byte limit of an upload token (so the route can stop reading early); 403 when the
/// token is unknown, used or expired.
pub fn limit_of(ctx: &Ctx<'_>, token: &str) -> Result<usize, ApiError> {
    let record = pending(ctx, token)?;
    Ok(record.data["max_bytes"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(MAX_IMAGE_BYTES))
}

fn pending(ctx: &Ctx<'_>, token: &str) -> Result<crate::store::Record, ApiError> {
    let record = ctx
        .db
        .get(kind::UPLOAD, &token_key(token))?
        .ok_or_else(|| refused("this upload URL is not valid"))?;
    if record.state == State::Deleted {
        return Err(refused("this upload URL has already been used"));
    }
    let expires = record.data["expires_at"].as_str().unwrap_or_default();
    if ctx.now_string().as_str() > expires {
        return Err(refused("this upload URL has expired"));
    }
    Ok(record)
}

/// Completes an upload: stores the bytes, spends the token and shows the upload on its
/// parent. 403 for an unknown, used or expired token; 413 above the token's limit.
pub fn complete(
    ctx: &Ctx<'_>,
    token: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<(), ApiError> {
    let record = pending(ctx, token)?;
    let d = &record.data;
    let limit = d["max_bytes"].as_u64().unwrap_or(0);
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(too_large(usize::try_from(limit).unwrap_or(usize::MAX)));
    }
    let what = d["what"].as_str().unwrap_or_default();
    let parent_kind = d["parent_kind"].as_str().unwrap_or_default();
    let parent_id = d["parent_id"].as_str().unwrap_or_default();
    let object_id = d["object_id"].as_str().unwrap_or_default();
    ctx.db.set_state(kind::UPLOAD, &record.id, State::Deleted)?;
    let Some(mut parent) = ctx.db.get(parent_kind, parent_id)? else {
        return Err(ApiError::not_found("Upload target", parent_id));
    };
    if what == "product_file" {
        let name = d["file_name"].as_str().unwrap_or("file");
        store_file(ctx, object_id, name, content_type, bytes)?;
        let entry = file_entry(ctx, object_id)?.unwrap_or(Value::Null);
        let delivery = &mut parent.data["digital_product_delivery"];
        if !delivery.is_object() {
            *delivery = json!({"external_url": null, "instructions": null, "files": []});
        }
        match delivery["files"].as_array_mut() {
            Some(files) => files.push(entry),
            None => delivery["files"] = json!([entry]),
        }
    } else {
        let blob = Blob {
            id: object_id.to_string(),
            file_name: None,
            content_type: content_type.to_string(),
            bytes,
        };
        blobs::put(ctx.db, &blob, Access::Public, &ctx.now_string())?;
        parent.data["image"] = json!(image_url(ctx, object_id));
    }
    common::touch(ctx, &mut parent.data);
    ctx.db.update(parent_kind, parent_id, &parent.data)?;
    Ok(())
}

/// The image id of an emulator image URL.
fn current_image_id(image: &Value) -> Option<&str> {
    let url = image.as_str()?;
    let (_, id) = url.split_once(IMAGE_PATH)?;
    (!id.is_empty()).then_some(id)
}

/// Common part of the four image operations.
fn image_upload(
    ctx: &Ctx<'_>,
    req: &ApiRequest,
    parent_kind: &str,
    what: &str,
    label: &str,
) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let parent = common::must_get(ctx, parent_kind, label, id)?;
    let force = req.query_bool("force_update")?.unwrap_or(false);
    let image_id = match current_image_id(&parent.data["image"]) {
        Some(current) if !force => current.to_string(),
        _ => crate::ids::uuid_v4(),
    };
    let url = issue(
        ctx,
        &Target {
            what,
            parent_kind,
            parent_id: id,
            object_id: &image_id,
            file_name: None,
            max_bytes: MAX_IMAGE_BYTES,
        },
    )?;
    Ok(Reply::json(json!({ "url": url, "image_id": image_id })))
}

fn product_image(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    image_upload(ctx, req, kind::PRODUCT, "product_image", "Product")
}

fn addon_image(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    image_upload(ctx, req, kind::ADDON, "addon_image", "Addon")
}

fn brand_image(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    image_upload(ctx, req, kind::BRAND, "brand_image", "Brand")
}

fn collection_image(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    image_upload(
        ctx,
        req,
        kind::PRODUCT_COLLECTION,
        "collection_image",
        "Product collection",
    )
}

fn product_file(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: dodo_types::models::UploadProductFile = req.input()?;
    let name = input.file_name.trim();
    if name.is_empty() || name.len() > 255 || name.contains(['/', '\\']) {
        return Err(ApiError::invalid_field(
            "file_name",
            "must be 1 to 255 characters without path separators",
        ));
    }
    let id = req.param("id");
    common::must_get(ctx, kind::PRODUCT, "Product", id)?;
    let file_id = crate::ids::uuid_v4();
    let url = issue(
        ctx,
        &Target {
            what: "product_file",
            parent_kind: kind::PRODUCT,
            parent_id: id,
            object_id: &file_id,
            file_name: Some(name),
            max_bytes: MAX_FILE_BYTES,
        },
    )?;
    Ok(Reply::json(json!({ "url": url, "file_id": file_id })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = crate::ids::uuid_v4();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, crate::ids::uuid_v4());
    }

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\x\\report.pdf"), "report.pdf");
        assert_eq!(clean_file_name("a\r\nb.txt"), "ab.txt");
        assert_eq!(clean_file_name(".."), "file");
        assert_eq!(clean_file_name(""), "file");
        assert_eq!(clean_file_name(&"x".repeat(300)).len(), 255);
    }

    #[test]
    fn image_ids_are_read_back_from_emulator_urls_only() {
        let url = json!("http://127.0.0.1:1/_emulator/images/abc");
        assert_eq!(current_image_id(&url), Some("abc"));
        assert_eq!(current_image_id(&json!("https://cdn.example/x.png")), None);
        assert_eq!(current_image_id(&Value::Null), None);
    }
}
