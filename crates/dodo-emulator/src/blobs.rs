//! Uploaded bytes: the `emu_blobs` table, one row per uploaded image or file.
//!
//! A blob is written once, when a presigned upload completes ([`crate::resources::uploads`]),
//! and read by the public image route (`public` rows, addressed by their image id) or by the
//! file download route (addressed by an unguessable `download_token`). Blobs belong to the
//! emulator's store: they persist with a file database and go with `/_emulator/reset`.

use rusqlite::{OptionalExtension, params};

use crate::store::Db;

/// One stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The image id or file id.
    pub id: String,
    /// Original file name, for files.
    pub file_name: Option<String>,
    /// The `Content-Type` the uploader sent.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// How a new blob is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// Anyone may `GET` it by id (images: product, addon, brand and collection pictures).
    Public,
    /// Served only to holders of this download token (files).
    Token(&'a str),
}

/// Stores a blob (replacing one of the same id).
pub fn put(db: &Db<'_>, blob: &Blob, access: Access<'_>, now: &str) -> rusqlite::Result<()> {
    let (public, token) = match access {
        Access::Public => (1, None),
        Access::Token(t) => (0, Some(t)),
    };
    db.conn()
        .prepare_cached(
            "INSERT OR REPLACE INTO emu_blobs
             (id, public, download_token, file_name, content_type, bytes, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            blob.id,
            public,
            token,
            blob.file_name,
            blob.content_type,
            blob.bytes,
            now
        ])?;
    Ok(())
}

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Blob> {
    Ok(Blob {
        id: row.get(0)?,
        file_name: row.get(1)?,
        content_type: row.get(2)?,
        bytes: row.get(3)?,
    })
}

/// A public blob by id.
pub fn public(db: &Db<'_>, id: &str) -> rusqlite::Result<Option<Blob>> {
    db.conn()
        .prepare_cached(
            "SELECT id, file_name, content_type, bytes FROM emu_blobs WHERE id = ?1 AND public = 1",
        )?
        .query_row(params![id], read)
        .optional()
}

/// A token-protected blob by its download token.
pub fn by_token(db: &Db<'_>, token: &str) -> rusqlite::Result<Option<Blob>> {
    db.conn()
        .prepare_cached(
            "SELECT id, file_name, content_type, bytes FROM emu_blobs WHERE download_token = ?1",
        )?
        .query_row(params![token], read)
        .optional()
}

/// Size in bytes and content type of a blob, without reading its bytes.
pub fn describe(db: &Db<'_>, id: &str) -> rusqlite::Result<Option<(i64, String)>> {
    db.conn()
        .prepare_cached("SELECT length(bytes), content_type FROM emu_blobs WHERE id = ?1")?
        .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Removes a blob (a detached file); answers whether one existed.
pub fn remove(db: &Db<'_>, id: &str) -> rusqlite::Result<bool> {
    Ok(db
        .conn()
        .prepare_cached("DELETE FROM emu_blobs WHERE id = ?1")?
        .execute(params![id])?
        > 0)
}
