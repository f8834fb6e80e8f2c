//! Opening one group's database file: checked read-only first (is it a
//! database, is its schema one this code knows, does it pass `PRAGMA
//! quick_check`), then opened for writing, configured and migrated.
//!
//! Must never write to a file it refuses: nothing is written (not even the
//! journal mode) before the checks pass, and a refused file is never deleted,
//! renamed or rewritten. Links at the path are not followed.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;
use crate::schema;

/// How long a statement waits for another connection (the host CLI) to let go.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `PRAGMA cache_size`: negative is KiB, so 16 MiB per connection.
const CACHE_KIB: i64 = -16 * 1024;

/// How many `quick_check` findings an error quotes.
const QUICK_CHECK_FINDINGS: usize = 3;

/// Whether to create a missing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Create it (the plugin, on a group's first use).
    IfMissing,
    /// Refuse with [`StoreError::NoDatabase`] (the host CLI, reading).
    Never,
}

/// The checked, configured and migrated connection to `path`.
pub(crate) fn open(path: &Path, create: Create) -> Result<Connection, StoreError> {
    match std::fs::symlink_metadata(path) {
        // A link is refused by SQLite (no-follow); anything else but a file could
        // block the open (a FIFO) or is not ours to read.
        Ok(meta) if !meta.is_file() && !meta.file_type().is_symlink() => {
            return Err(StoreError::Unreadable {
                path: path.to_owned(),
                detail: "not a regular file".into(),
            })
        }
        Ok(_) => check(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if create == Create::Never {
                return Err(StoreError::NoDatabase {
                    path: path.to_owned(),
                });
            }
        }
        Err(e) => {
            return Err(StoreError::Unreadable {
                path: path.to_owned(),
                detail: e.to_string(),
            })
        }
    }
    let sqlite = |e| StoreError::sqlite(path, e);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    harden(&conn).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // Once more on this connection before the first write: the file may have changed since.
    schema::check_ours(&conn, path)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unreadable {
            path: path.to_owned(),
            detail: format!("cannot use write-ahead logging (journal mode {mode})"),
        });
    }
    // A process crash loses nothing committed in WAL mode with NORMAL (the OS holds the
    // log); only a power loss may roll back the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sqlite)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sqlite)?;
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(sqlite)?;
    // Up to 16 MiB of pages (the default is 2): a search reads entries scattered
    // over the file, and at 100k entries (50 MB) this halves its time.
    conn.pragma_update(None, "cache_size", CACHE_KIB)
        .map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(64);
    schema::migrate(&mut conn, path)?;
    Ok(conn)
}

/// What a connection refuses of the file's own schema, before it reads it: the
/// file is written by the plugin (its own uid when the core is root) and read by
/// `carapace memory` (the person, maybe root), so a schema object planted in it
/// (a trigger or view calling functions, a write to `sqlite_schema`) must not run
/// with the reader's rights. Defensive mode, untrusted schema, checked cells.
///
/// Also the query planner's stability guarantee: without it SQLite lets a plan
/// depend on bound values (a LIMIT, a range bound in FTS5's own statements on
/// its index), and then throws away and re-parses the cached statement at each
/// new binding (measured: a fifth of a 2-word search at 100k entries).
fn harden(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.pragma_update(None, "cell_size_check", "ON")?;
    Ok(())
}

/// Reads an existing file without writing it: a database, a known schema, `quick_check` ok.
fn check(path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    harden(&conn).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    schema::check_ours(&conn, path)?;
    let findings = quick_check(&conn).map_err(sqlite)?;
    if findings.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail: format!("quick_check: {}", findings.join("; ")),
        })
    }
}

/// `PRAGMA quick_check`'s findings (none when it says `ok`), at most a few.
fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare("PRAGMA quick_check")?;
    let mut rows = statement.query([])?;
    let mut findings = Vec::new();
    while let Some(row) = rows.next()? {
        let finding: String = row.get(0)?;
        if finding != "ok" && findings.len() < QUICK_CHECK_FINDINGS {
            findings.push(finding);
        }
    }
    Ok(findings)
}
