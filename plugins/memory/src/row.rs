//! Reading an entry back from a row of `entries`.
//!
//! Must never panic on what the file holds: a tag list or origin that does not
//! parse (a hand-edited file) reads as none.

use carapace_plugin_sdk::Origin;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::entry::Entry;

/// The columns [`entry`] reads, of `entries` aliased `e`.
pub(crate) const ENTRY_COLUMNS: &str = "e.id, e.type, e.content, e.tags, e.supersedes, e.trust, \
     e.session, e.group_name, e.created_at, e.origin, e.superseded_by, e.superseded_at, \
     e.promoted_at, e.promoted_by";

/// How many columns [`ENTRY_COLUMNS`] has (a query may select more after them).
pub(crate) const ENTRY_COLUMN_COUNT: usize = 14;

/// The entry in `row`, selected with [`ENTRY_COLUMNS`].
pub(crate) fn entry(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let tags: String = row.get(3)?;
    let origin: Option<String> = row.get(9)?;
    Ok(Entry {
        id: row.get(0)?,
        kind: row.get(1)?,
        content: row.get(2)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        supersedes: row.get(4)?,
        trust: row.get(5)?,
        session: row.get(6)?,
        group: row.get(7)?,
        created_at: row.get(8)?,
        origin: origin.and_then(|text| serde_json::from_str::<Origin>(&text).ok()),
        superseded_by: row.get(10)?,
        superseded_at: row.get(11)?,
        promoted_at: row.get(12)?,
        promoted_by: row.get(13)?,
    })
}

/// The entry with `id`, if any.
pub(crate) fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Entry>> {
    conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id = ?1"
    ))?
    .query_row(params![id], entry)
    .optional()
}
