//! File metadata per viewer and the list of sealed chunks held on disk.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{StoreError, blob};

/// What a viewer knows of a file.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Who may open it: `PUBLIC_VIEWER` or a local account.
    pub viewer: [u8; 32],
    /// The file id.
    pub id: [u8; 32],
    /// File name as uploaded.
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// MIME type as uploaded.
    pub mime: String,
    /// Plaintext bytes per chunk (the last may be shorter).
    pub chunk_size: u32,
    /// Chunk addresses in order.
    pub hashes: Vec<[u8; 32]>,
    /// The file key: plain for `PUBLIC_VIEWER`, sealed under the viewer's master key otherwise.
    pub key: Vec<u8>,
}

impl FileRow {
    /// The reference to a file whose key is stored plain (public files, avatars).
    pub fn public_ref(&self) -> Option<chatly_protocol::FileRef> {
        Some(chatly_protocol::FileRef {
            id: self.id,
            name: self.name.clone(),
            size: self.size,
            mime: self.mime.clone(),
            key: self.key.clone().try_into().ok()?,
            chunk_size: self.chunk_size,
            chunk_hashes: self.hashes.clone(),
        })
    }
}

/// Records what `row.viewer` knows of a file (kept if already known).
pub fn insert(txn: &Connection, row: &FileRow, now: u64) -> Result<(), StoreError> {
    let hashes: Vec<u8> = row.hashes.iter().flatten().copied().collect();
    txn.prepare_cached(
        "INSERT OR IGNORE INTO files (viewer, id, name, size, mime, chunk_size, hashes, key, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.viewer,
        row.id,
        row.name,
        row.size as i64,
        row.mime,
        row.chunk_size,
        hashes,
        row.key,
        now as i64
    ])?;
    Ok(())
}

/// A file as one of `viewers` knows it (the first that does).
pub fn get(
    conn: &Connection,
    viewers: &[[u8; 32]],
    id: &[u8; 32],
) -> Result<Option<FileRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, size, mime, chunk_size, hashes, key FROM files WHERE viewer = ?1 AND id = ?2",
    )?;
    for viewer in viewers {
        let row = stmt
            .query_row(params![viewer, id], |r| {
                let hashes: Vec<u8> = r.get(4)?;
                Ok(FileRow {
                    viewer: *viewer,
                    id: *id,
                    name: r.get(0)?,
                    size: r.get::<_, i64>(1)? as u64,
                    mime: r.get(2)?,
                    chunk_size: r.get(3)?,
                    hashes: hashes
                        .chunks_exact(32)
                        .map(|c| c.try_into().unwrap_or([0; 32]))
                        .collect(),
                    key: r.get(5)?,
                })
            })
            .optional()?;
        if row.is_some() {
            return Ok(row);
        }
    }
    Ok(None)
}

/// Notes that a sealed chunk is on disk.
pub fn add_chunk(
    txn: &Transaction<'_>,
    hash: &[u8; 32],
    len: usize,
    now: u64,
) -> Result<(), StoreError> {
    txn.prepare_cached("INSERT OR IGNORE INTO chunks (hash, len, stored_at) VALUES (?1, ?2, ?3)")?
        .execute(params![hash, len as i64, now as i64])?;
    Ok(())
}

/// Whether a chunk is on disk.
pub fn has_chunk(conn: &Connection, hash: &[u8; 32]) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM chunks WHERE hash = ?1")?
        .query_row(params![hash], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Every chunk address on disk (for tests and cleanup).
pub fn chunk_hashes(conn: &Connection) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT hash FROM chunks")?;
    let rows = stmt.query_map([], |r| blob::<32>(r, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
