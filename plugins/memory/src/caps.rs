//! Per-session caps on writes, counted in the database in the write's own
//! transaction: a restarted handler keeps them, and a refused or failed write
//! counts nothing.
//!
//! Must never count outside the transaction of the write it limits.

use std::fmt;

use rusqlite::{params, Transaction};

use crate::store::NOW;

/// Most entries one session may store.
pub const MAX_STORES: i64 = 20;
/// Most entries one session may supersede (a store with `supersedes` counts as a store too).
pub const MAX_SUPERSEDES: i64 = 5;
/// Most entries one session may delete.
pub const MAX_DELETES: i64 = 5;

/// A per-session cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// [`MAX_STORES`].
    Stores,
    /// [`MAX_SUPERSEDES`].
    Supersedes,
    /// [`MAX_DELETES`].
    Deletes,
}

impl Cap {
    /// Its limit per session.
    pub fn limit(self) -> i64 {
        match self {
            Cap::Stores => MAX_STORES,
            Cap::Supersedes => MAX_SUPERSEDES,
            Cap::Deletes => MAX_DELETES,
        }
    }

    fn column(self) -> &'static str {
        match self {
            Cap::Stores => "stores",
            Cap::Supersedes => "supersedes",
            Cap::Deletes => "deletes",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Cap::Stores => "store",
            Cap::Supersedes => "supersede",
            Cap::Deletes => "delete",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this session may {} at most {} memory entries, and it has; a later session may {} more",
            self.verb(),
            self.limit(),
            self.verb()
        )
    }
}

/// Counts one use of each of `caps` for `session`, or fails with the first cap already reached.
pub(crate) fn count(
    tx: &Transaction<'_>,
    session: &str,
    caps: &[Cap],
) -> Result<Result<(), Cap>, rusqlite::Error> {
    tx.execute(
        &format!(
            "INSERT INTO session_caps (session, touched_at) VALUES (?1, {NOW})
             ON CONFLICT (session) DO UPDATE SET touched_at = excluded.touched_at"
        ),
        params![session],
    )?;
    for &cap in caps {
        let used: i64 = tx.query_row(
            &format!(
                "SELECT {} FROM session_caps WHERE session = ?1",
                cap.column()
            ),
            params![session],
            |row| row.get(0),
        )?;
        if used >= cap.limit() {
            return Ok(Err(cap));
        }
    }
    for &cap in caps {
        tx.execute(
            &format!(
                "UPDATE session_caps SET {0} = {0} + 1 WHERE session = ?1",
                cap.column()
            ),
            params![session],
        )?;
    }
    Ok(Ok(()))
}

/// Forgets the counts of sessions that wrote nothing for `days` days (such a
/// session starts counting again; agent sessions end long before).
pub(crate) fn forget_older_than(tx: &Transaction<'_>, days: u32) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM session_caps WHERE touched_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
        params![format!("-{days} days")],
    )
}
