//! Searching one group's entries: FTS5 ranked by `bm25`, or the newest first;
//! filtered by tags (all of them), type, and whether superseded entries count.
//!
//! A query ranks the newest [`RANKED`] (or three times `limit`) entries that contain every word and pass
//! the filters: all of them when fewer match (any query with a rarer word), the
//! most recent otherwise. Ranking every match of a word most entries hold cost
//! 50-100 ms at 100k entries (bm25 on each row, every row joined); the window
//! bounds that, and for memory the recent entries are the better guess anyway.
//! What remains proportional to the matches is FTS5's own count of each word
//! for bm25's IDF (about 4 ms for a word in 90% of 100k entries).
//!
//! Must never put a value into SQL text: the query (already a safe FTS5
//! expression, see [`crate::fts`]), tags and type are bound parameters.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use crate::actor::Sight;
use crate::entry::{Entry, EntryType};
use crate::fts::{tag_phrase, Query};
use crate::row::{self, ENTRY_COLUMNS};

/// How many entries a search returns unless asked.
pub const DEFAULT_LIMIT: usize = 20;
/// The most entries a search returns.
pub const MAX_LIMIT: usize = 100;

/// How many of the newest matching entries a query ranks at least (see the
/// module doc); three times the limit when that is more.
pub const RANKED: usize = 100;

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

/// Runs `search` on `conn`, over the entries `sight` allows.
pub(crate) fn run(
    conn: &Connection,
    search: &Search,
    sight: Sight<'_>,
) -> rusqlite::Result<Vec<Entry>> {
    let mut values: Vec<Value> = Vec::new();
    let query = Query::parse(search.query.as_deref());
    if query == Query::NothingSearchable {
        return Ok(Vec::new());
    }
    if let Query::Match(words) = &query {
        // The tags, as phrases of the `tags` column, keep the candidates to
        // entries that may have them; the exact check below decides.
        let mut expression = words.clone();
        for phrase in search.tags.iter().filter_map(|tag| tag_phrase(tag)) {
            expression.push_str(" AND ");
            expression.push_str(&phrase);
        }
        values.push(Value::Text(expression));
    }
    let mut filters = String::new();
    if !search.include_superseded {
        filters.push_str(" AND e.superseded_at IS NULL");
    }
    if let Some(kind) = search.kind {
        values.push(Value::Text(kind.as_str().to_owned()));
        filters.push_str(&format!(" AND e.type = ?{}", values.len()));
    }
    for tag in &search.tags {
        values.push(Value::Text(tag.trim().to_owned()));
        filters.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entry_tags WHERE tag = ?{} AND entry_id = e.id)",
            values.len()
        ));
    }
    filters.push_str(&sight.sql(&mut values));
    let limit = search.limit.clamp(1, MAX_LIMIT);
    let ranked = RANKED.max(3 * limit);
    // The limit is written into the statement (a clamped integer, 1 to MAX_LIMIT),
    // not bound: SQLite 3.54 lets a plan depend on a bound LIMIT, and then expires
    // and re-prepares the cached statement at every call (measured: ~0.3 ms).
    let sql = match query {
        Query::Match(_) => format!(
            "SELECT {ENTRY_COLUMNS} FROM (
                 SELECT id, score FROM (
                     SELECT e.id AS id, bm25(entries_fts, 1.0, 2.0) AS score
                     FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid
                     WHERE entries_fts MATCH ?1 {filters}
                     ORDER BY entries_fts.rowid DESC LIMIT {ranked})
                 ORDER BY score, id DESC LIMIT {limit}) m
             JOIN entries e ON e.id = m.id
             ORDER BY m.score, m.id DESC"
        ),
        Query::Newest | Query::NothingSearchable => format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE 1 {filters}
             ORDER BY e.id DESC LIMIT {limit}"
        ),
    };
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), row::entry)?;
    rows.collect()
}
