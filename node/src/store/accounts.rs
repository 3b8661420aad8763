//! Rows of locally hosted accounts and their login sessions.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{StoreError, blob};

/// An account hosted on this node, with its secrets still wrapped.
#[derive(Debug, Clone)]
pub struct LocalAccountRow {
    /// Account id (identity public key).
    pub user_id: [u8; 32],
    /// Login name, unique on this node.
    pub username: String,
    /// argon2id PHC string that verifies the password.
    pub password_phc: String,
    /// Master key wrapped under the password (see crypto::wrap::WrappedKey).
    pub wrapped_master: Vec<u8>,
    /// Private keys sealed under the master key.
    pub sealed_keys: Vec<u8>,
}

/// A login session; the token itself is never stored.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Lookup id derived from the token.
    pub id: [u8; 32],
    /// Whose session.
    pub user_id: [u8; 32],
    /// Master key sealed under a key derived from the token.
    pub wrapped_master: Vec<u8>,
    /// "Remember me": the cookie outlives the browser session.
    pub persistent: bool,
    /// Expiry, ms since the epoch.
    pub expires_at: u64,
}

/// Inserts a new account; `Ok(false)` when the username is taken.
pub fn insert_account(
    txn: &Transaction<'_>,
    row: &LocalAccountRow,
    now: u64,
) -> Result<bool, StoreError> {
    let inserted = txn.execute(
        "INSERT INTO local_accounts (user_id, username, password_phc, wrapped_master, sealed_keys, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![row.user_id, row.username, row.password_phc, row.wrapped_master, row.sealed_keys, now as i64],
    )?;
    Ok(inserted == 1)
}

fn account_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LocalAccountRow> {
    Ok(LocalAccountRow {
        user_id: blob(row, 0)?,
        username: row.get(1)?,
        password_phc: row.get(2)?,
        wrapped_master: row.get(3)?,
        sealed_keys: row.get(4)?,
    })
}

const ACCOUNT_COLUMNS: &str = "user_id, username, password_phc, wrapped_master, sealed_keys";

/// The local account with this username.
pub fn account_by_username(
    conn: &Connection,
    username: &str,
) -> Result<Option<LocalAccountRow>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM local_accounts WHERE username = ?1");
    Ok(conn
        .query_row(&sql, [username], account_from_row)
        .optional()?)
}

/// The local account with this id.
pub fn account(
    conn: &Connection,
    user_id: &[u8; 32],
) -> Result<Option<LocalAccountRow>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM local_accounts WHERE user_id = ?1");
    Ok(conn
        .query_row(&sql, [user_id], account_from_row)
        .optional()?)
}

/// Ids of every account this node hosts.
pub fn account_ids(conn: &Connection) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut stmt = conn.prepare("SELECT user_id FROM local_accounts")?;
    let ids = stmt.query_map([], |row| blob::<32>(row, 0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Replaces an account's sealed private keys (after a prekey rotation).
pub fn update_sealed_keys(
    txn: &Transaction<'_>,
    user_id: &[u8; 32],
    sealed: &[u8],
) -> Result<(), StoreError> {
    txn.execute(
        "UPDATE local_accounts SET sealed_keys = ?2 WHERE user_id = ?1",
        params![user_id, sealed],
    )?;
    Ok(())
}

/// Stores a new session.
pub fn insert_session(txn: &Transaction<'_>, row: &SessionRow, now: u64) -> Result<(), StoreError> {
    txn.execute(
        "INSERT INTO sessions (id, user_id, wrapped_master, persistent, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            row.id,
            row.user_id,
            row.wrapped_master,
            row.persistent,
            now as i64,
            row.expires_at as i64
        ],
    )?;
    Ok(())
}

/// The unexpired session with this id.
pub fn session(
    conn: &Connection,
    id: &[u8; 32],
    now: u64,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id, user_id, wrapped_master, persistent, expires_at FROM sessions
             WHERE id = ?1 AND expires_at > ?2",
            params![id, now as i64],
            |row| {
                Ok(SessionRow {
                    id: blob(row, 0)?,
                    user_id: blob(row, 1)?,
                    wrapped_master: row.get(2)?,
                    persistent: row.get(3)?,
                    expires_at: row.get::<_, i64>(4)? as u64,
                })
            },
        )
        .optional()?)
}

/// Deletes a session; returns its account and how many sessions that account still has.
pub fn delete_session(
    txn: &Transaction<'_>,
    id: &[u8; 32],
) -> Result<Option<([u8; 32], u64)>, StoreError> {
    let user: Option<[u8; 32]> = txn
        .query_row(
            "DELETE FROM sessions WHERE id = ?1 RETURNING user_id",
            [id],
            |row| blob(row, 0),
        )
        .optional()?;
    let Some(user) = user else { return Ok(None) };
    let left: i64 = txn.query_row(
        "SELECT count(*) FROM sessions WHERE user_id = ?1",
        [user],
        |row| row.get(0),
    )?;
    Ok(Some((user, left as u64)))
}

/// Removes expired sessions; returns how many.
pub fn delete_expired_sessions(txn: &Transaction<'_>, now: u64) -> Result<usize, StoreError> {
    Ok(txn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now as i64])?)
}
