//! Sessions shown what others wrote: an owner's session whose brief or search
//! answer held untrusted entries has read a stranger's words, and may have been
//! talked into repeating them. What such a session stores as an instruction, a
//! correction or a preference counts as untrusted (the owner can promote it), and
//! it cannot replace the owner's entries with it.
//!
//! Must never let a session shown untrusted text store a behavioural entry as
//! the owner's, nor forget a session while its caps are still counted.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::entry::{EntryType, Trust};
use crate::store::NOW;

/// Records that `session` was shown untrusted entries (once; the first time kept).
/// A session already recorded costs a read, not a write transaction.
pub(crate) fn mark(conn: &Connection, session: &str) -> rusqlite::Result<()> {
    if is_marked(conn, session)? {
        return Ok(());
    }
    conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO sessions_shown_untrusted (session, first_at) VALUES (?1, {NOW})"
    ))?
    .execute(params![session])?;
    Ok(())
}

/// Whether `session` was shown untrusted entries.
pub(crate) fn is_marked(conn: &Connection, session: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sessions_shown_untrusted WHERE session = ?1")?
        .query_row(params![session], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The trust of an entry of `kind` stored with `trust` by `session`: an owner's
/// behavioural entry from a session shown untrusted text counts as untrusted.
pub(crate) fn stored_trust(
    conn: &Connection,
    session: Option<&str>,
    kind: EntryType,
    trust: Trust,
) -> rusqlite::Result<Trust> {
    match session {
        Some(session) if trust == Trust::Owner && kind.is_behavioural() => {
            Ok(if is_marked(conn, session)? {
                Trust::Untrusted
            } else {
                Trust::Owner
            })
        }
        _ => Ok(trust),
    }
}

/// Forgets sessions first shown untrusted text more than `days` ago.
pub(crate) fn forget_older_than(tx: &Transaction<'_>, days: u32) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM sessions_shown_untrusted
         WHERE first_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
        params![format!("-{days} days")],
    )
}

/// Most current untrusted entries one group keeps: each stranger's message is a
/// new session with fresh caps, so the caps alone do not bound them.
pub const MAX_OTHERS_CURRENT: i64 = 1000;
/// Most current untrusted entries from one sender (a channel plugin and the sender
/// it reported), so that one stranger cannot push the others' entries out.
pub const MAX_OTHERS_PER_SENDER: i64 = 100;

/// Refuses another untrusted entry when the group, or `origin`'s sender, holds
/// its bound of current ones.
pub(crate) fn room_for_others(
    conn: &Connection,
    origin: Option<&carapace_plugin_sdk::Origin>,
) -> rusqlite::Result<Result<(), crate::error::StoreError>> {
    let held: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM entries WHERE trust = 'untrusted' AND superseded_at IS NULL",
        )?
        .query_row([], |row| row.get(0))?;
    if held >= MAX_OTHERS_CURRENT {
        return Ok(Err(crate::error::StoreError::OthersFull {
            limit: MAX_OTHERS_CURRENT,
            per_sender: false,
        }));
    }
    let Some((plugin, sender)) =
        origin.and_then(|o| Some((o.plugin.as_deref()?, o.sender.as_deref()?)))
    else {
        return Ok(Ok(()));
    };
    let from_sender: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM entries
             WHERE trust = 'untrusted' AND superseded_at IS NULL
               AND json_extract(origin, '$.plugin') = ?1
               AND json_extract(origin, '$.sender') = ?2",
        )?
        .query_row(params![plugin, sender], |row| row.get(0))?;
    Ok(if from_sender >= MAX_OTHERS_PER_SENDER {
        Err(crate::error::StoreError::OthersFull {
            limit: MAX_OTHERS_PER_SENDER,
            per_sender: true,
        })
    } else {
        Ok(())
    })
}
