//! Opening the database: each connection's settings, the integrity check a file gets before it
//! is trusted, and the numbered migrations (`PRAGMA user_version` counts those applied).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Numbered migrations, applied in order; `PRAGMA user_version` records how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_private_rooms.sql"),
    include_str!("../../migrations/0003_sync.sql"),
    include_str!("../../migrations/0004_reads.sql"),
    include_str!("../../migrations/0005_message_ops.sql"),
    include_str!("../../migrations/0006_files.sql"),
    include_str!("../../migrations/0007_search.sql"),
    include_str!("../../migrations/0008_open_marks.sql"),
    include_str!("../../migrations/0009_node_addrs.sql"),
    include_str!("../../migrations/0010_outbox_order.sql"),
    include_str!("../../migrations/0011_control_lookups.sql"),
    include_str!("../../migrations/0012_author_reservations.sql"),
    include_str!("../../migrations/0013_one_room_kind_index.sql"),
    include_str!("../../migrations/0014_search_in_batches.sql"),
    include_str!("../../migrations/0015_one_kind_room_index.sql"),
    include_str!("../../migrations/0016_private_rows_by_viewer.sql"),
    include_str!("../../migrations/0017_outbox_by_position.sql"),
    include_str!("../../migrations/0018_ranges_without_hi_index.sql"),
    include_str!("../../migrations/0019_private_kinds_index.sql"),
    include_str!("../../migrations/0020_chains_without_rowid.sql"),
    include_str!("../../migrations/0021_kinds_index_by_range.sql"),
    include_str!("../../migrations/0022_messages_keyed_by_order.sql"),
];

/// Prepared statements the writer keeps (readers keep rusqlite's default 16: some of their
/// queries are built per request, and every cached statement holds memory).
const WRITER_STATEMENT_CACHE: usize = 64;

pub(super) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| corrupt(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if !read_only {
        // rusqlite keeps 16 prepared statements by default; the writer uses more than that, and
        // a statement pushed out is parsed and planned again on its next use.
        conn.set_prepared_statement_cache_capacity(WRITER_STATEMENT_CACHE);
        // WAL: readers never block the writer. FULL: a commit survives power loss, so an
        // acknowledged message is durable; group commit pays for it.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| corrupt(path, e))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Each job runs in a savepoint, whose undo copies of pages go to a temporary file by
        // default once a transaction's copies pass 64 KiB (most gossip batches did): one more
        // write per page touched. They are only needed until the commit.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
    }
    Ok(conn)
}

fn corrupt(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

pub(super) fn check_integrity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| corrupt(path, e))?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt {
            path: path.display().to_string(),
            reason: verdict,
        });
    }
    Ok(())
}

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            found: applied,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        if applied > 0 {
            // A store an older Chatly wrote: some migrations rebuild a table (0022 takes about
            // 7 s at a million messages), so the log says why this start is slow.
            tracing::info!(
                migration = index + 1,
                of = MIGRATIONS.len(),
                "upgrading the store"
            );
        }
        let txn = conn.transaction()?;
        txn.execute_batch(sql)?;
        txn.pragma_update(None, "user_version", index + 1)?;
        txn.commit()?;
    }
    Ok(())
}
