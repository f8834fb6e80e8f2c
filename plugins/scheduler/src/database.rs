//! Opening the scheduler's database (`<data_dir>/scheduler.sqlite`): checked
//! read-only first (a database, our schema exactly, `quick_check`), then opened
//! for writing, hardened, and migrated.
//!
//! Hardening as the memory plugin's: defensive mode, untrusted schema, the
//! query planner's stability guarantee, checked cells, no link followed.
//! `synchronous = FULL`: a fire's row is on disk when its transaction commits,
//! before `task.triggered` is published. Must never write to a file it refuses.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::SchedError;
use crate::schema;

/// The database's file name in the data dir.
pub const FILE: &str = "scheduler.sqlite";
/// How long a statement waits for another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> SchedError + '_ {
    move |source| SchedError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

fn harden(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.pragma_update(None, "cell_size_check", "ON")?;
    Ok(())
}

/// The checked, hardened and migrated connection to `path`.
pub fn open(path: &Path) -> Result<Connection, SchedError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() || !meta.is_file() => {
            return Err(SchedError::Refused {
                path: path.to_owned(),
                detail: "not a regular file".into(),
            })
        }
        Ok(_) => check(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(SchedError::Refused {
                path: path.to_owned(),
                detail: e.to_string(),
            })
        }
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite(path))?;
    harden(&conn).map_err(sqlite(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite(path))?;
    schema::check_ours(&conn, path)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite(path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SchedError::Refused {
            path: path.to_owned(),
            detail: format!("cannot use write-ahead logging (journal mode {mode})"),
        });
    }
    // Every commit synced: a recorded fire survives a power loss, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite(path))?;
    conn.set_prepared_statement_cache_capacity(32);
    schema::migrate(&mut conn, path)?;
    Ok(conn)
}

/// Reads an existing file without writing it.
fn check(path: &Path) -> Result<(), SchedError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| SchedError::Refused {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    harden(&conn).map_err(sqlite(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite(path))?;
    schema::check_ours(&conn, path).map_err(|e| match e {
        SchedError::Sqlite { source, .. } => SchedError::Refused {
            path: path.to_owned(),
            detail: source.to_string(),
        },
        other => other,
    })?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(sqlite(path))?;
    if verdict != "ok" {
        return Err(SchedError::Refused {
            path: path.to_owned(),
            detail: format!("quick_check: {verdict}"),
        });
    }
    Ok(())
}
