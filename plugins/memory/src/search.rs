//! Searching one group's entries: FTS5 ranked by `bm25`, or the newest first;
//! filtered by tags (all of them), type, and whether superseded entries count.
//!
//! Must never put a value into SQL text: the query (already a safe FTS5
//! expression, see [`crate::fts`]), tags and type are bound parameters.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use crate::entry::{Entry, EntryType};
use crate::fts::Query;
use crate::row::{self, ENTRY_COLUMNS};

/// How many entries a search returns unless asked.
pub const DEFAULT_LIMIT: usize = 20;
/// The most entries a search returns.
pub const MAX_LIMIT: usize = 100;

/// What to search for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// Words to find (see [`Query::parse`]); `None` or blank lists the newest.
    pub query: Option<String>,
    /// Tags every result must have (compared trimmed, exactly).
    pub tags: Vec<String>,
    /// The one type results must have.
    pub kind: Option<EntryType>,
    /// Whether superseded entries are results too.
    pub include_superseded: bool,
    /// The most results (clamped to 1..=[`MAX_LIMIT`]).
    pub limit: usize,
}

impl Default for Search {
    fn default() -> Search {
        Search::newest(DEFAULT_LIMIT)
    }
}

impl Search {
    /// The newest `limit` current entries.
    pub fn newest(limit: usize) -> Search {
        Search {
            query: None,
            tags: Vec::new(),
            kind: None,
            include_superseded: false,
            limit,
        }
    }

    /// The best `limit` current entries for `query`.
    pub fn matching(query: impl Into<String>, limit: usize) -> Search {
        Search {
            query: Some(query.into()),
            ..Search::newest(limit)
        }
    }
}

/// Runs `search` on `conn`.
pub(crate) fn run(conn: &Connection, search: &Search) -> rusqlite::Result<Vec<Entry>> {
    let mut values: Vec<Value> = Vec::new();
    let (mut sql, order) = match Query::parse(search.query.as_deref()) {
        Query::NothingSearchable => return Ok(Vec::new()),
        Query::Newest => (
            format!("SELECT {ENTRY_COLUMNS} FROM entries e WHERE 1"),
            "e.id DESC",
        ),
        Query::Match(expression) => {
            values.push(Value::Text(expression));
            (
                format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries_fts
                     JOIN entries e ON e.id = entries_fts.rowid
                     WHERE entries_fts MATCH ?1"
                ),
                // Tags weigh double: the agent chose them to be found by.
                "bm25(entries_fts, 1.0, 2.0), e.id DESC",
            )
        }
    };
    if !search.include_superseded {
        sql.push_str(" AND e.superseded_at IS NULL");
    }
    if let Some(kind) = search.kind {
        values.push(Value::Text(kind.as_str().to_owned()));
        sql.push_str(&format!(" AND e.type = ?{}", values.len()));
    }
    for tag in &search.tags {
        values.push(Value::Text(tag.trim().to_owned()));
        sql.push_str(&format!(
            " AND e.id IN (SELECT entry_id FROM entry_tags WHERE tag = ?{})",
            values.len()
        ));
    }
    let limit = search.limit.clamp(1, MAX_LIMIT);
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(1)));
    sql.push_str(&format!(" ORDER BY {order} LIMIT ?{}", values.len()));
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), row::entry)?;
    rows.collect()
}
