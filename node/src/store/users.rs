//! The account directory: the newest valid account record of every known account.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{StoreError, blob};

/// One directory entry.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Account id.
    pub user_id: [u8; 32],
    /// Username chosen at sign-up.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Short bio.
    pub bio: String,
    /// Avatar file id, hex.
    pub avatar: Option<String>,
    /// Home node's ed25519 public key (its PeerId derives from it).
    pub node_public: [u8; 32],
    /// x25519 static public key.
    pub dh_public: [u8; 32],
    /// Signed prekey.
    pub prekey_public: [u8; 32],
    /// Record version (its envelope seq); only a higher one replaces it.
    pub version: u64,
    /// Where the home node said it can be dialed (multiaddrs, unchecked text).
    pub node_addrs: Vec<String>,
}

/// Stores the record if it is newer than what is held; returns whether it was.
pub fn upsert(txn: &Transaction<'_>, row: &UserRow, now: u64) -> Result<bool, StoreError> {
    let changed = txn.execute(
        "INSERT INTO users (user_id, username, display_name, bio, avatar, node_public, dh_public, prekey_public, version, updated_at, node_addrs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, display_name = excluded.display_name,
            bio = excluded.bio, avatar = excluded.avatar, node_public = excluded.node_public,
            dh_public = excluded.dh_public, prekey_public = excluded.prekey_public,
            version = excluded.version, updated_at = excluded.updated_at, node_addrs = excluded.node_addrs
         WHERE excluded.version > users.version",
        params![
            row.user_id, row.username, row.display_name, row.bio, row.avatar, row.node_public,
            row.dh_public, row.prekey_public, row.version as i64, now as i64,
            row.node_addrs.join("\n")
        ],
    )?;
    Ok(changed == 1)
}

const COLUMNS: &str = "user_id, username, display_name, bio, avatar, node_public, dh_public, prekey_public, version, node_addrs";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        user_id: blob(row, 0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        bio: row.get(3)?,
        avatar: row.get(4)?,
        node_public: blob(row, 5)?,
        dh_public: blob(row, 6)?,
        prekey_public: blob(row, 7)?,
        version: row.get::<_, i64>(8)? as u64,
        node_addrs: row
            .get::<_, String>(9)?
            .lines()
            .map(str::to_owned)
            .collect(),
    })
}

/// Every known account, by username.
pub fn all(conn: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY username, user_id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One account.
pub fn get(conn: &Connection, user_id: &[u8; 32]) -> Result<Option<UserRow>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE user_id = ?1"))?;
    Ok(stmt.query_row([user_id], from_row).optional()?)
}
