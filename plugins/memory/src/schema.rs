//! The database schema, versioned with `PRAGMA user_version`: migrations run in
//! order, each in the same transaction as the version it sets.
//!
//! Must never touch a database whose version is newer than [`SCHEMA_VERSION`].

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;

/// Version 1: entries, their tags, the FTS5 index kept by triggers, the per-session caps.
///
/// `tags` holds the JSON array of the entry's tags (indexed by FTS5 beside the
/// content); `entry_tags` holds one row per tag for the AND filter. `supersedes`
/// and `superseded_by` are plain ids: a purged or deleted entry leaves them as
/// history. Times are RFC 3339 UTC text (`strftime('%Y-%m-%dT%H:%M:%fZ')`), which
/// sorts in time order. FTS5 `secure-delete` and `PRAGMA secure_delete` (set
/// per connection) remove a deleted entry's text from the file, not just its row.
const V1: &str = "
CREATE TABLE entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    type          TEXT NOT NULL
                  CHECK (type IN ('preference', 'fact', 'instruction', 'context', 'correction')),
    content       TEXT NOT NULL,
    tags          TEXT NOT NULL,
    supersedes    INTEGER,
    session       TEXT NOT NULL,
    group_name    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    origin        TEXT,
    trust         TEXT NOT NULL CHECK (trust IN ('owner', 'untrusted')),
    superseded_by INTEGER,
    superseded_at TEXT,
    promoted_at   TEXT,
    promoted_by   TEXT
);
CREATE INDEX entries_current ON entries (trust, type, id) WHERE superseded_at IS NULL;
CREATE INDEX entries_superseded ON entries (superseded_at) WHERE superseded_at IS NOT NULL;

CREATE TABLE entry_tags (
    tag      TEXT NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, entry_id)
) WITHOUT ROWID;
CREATE INDEX entry_tags_entry ON entry_tags (entry_id);

CREATE VIRTUAL TABLE entries_fts USING fts5 (
    content, tags,
    content = 'entries', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO entries_fts (entries_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, content, tags) VALUES (new.id, new.content, new.tags);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, content, tags)
        VALUES ('delete', old.id, old.content, old.tags);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF content, tags ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, content, tags)
        VALUES ('delete', old.id, old.content, old.tags);
    INSERT INTO entries_fts (rowid, content, tags) VALUES (new.id, new.content, new.tags);
END;

CREATE TABLE session_caps (
    session    TEXT PRIMARY KEY,
    stores     INTEGER NOT NULL DEFAULT 0,
    supersedes INTEGER NOT NULL DEFAULT 0,
    deletes    INTEGER NOT NULL DEFAULT 0,
    touched_at TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 2: the sessions that were shown untrusted entries (see `taint`).
const V2: &str = "
CREATE TABLE sessions_shown_untrusted (
    session  TEXT PRIMARY KEY,
    first_at TEXT NOT NULL
) WITHOUT ROWID;
";

/// `PRAGMA application_id` of a memory database (`CrMm`), set with the first migration.
pub(crate) const APPLICATION_ID: i64 = 0x4372_6D6D;

/// The migrations, in order: the one at index `i` takes version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database's `user_version`.
pub(crate) fn version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| StoreError::sqlite(path, e))
}

/// Refuses a version this code does not know (newer, or negative).
pub(crate) fn check_known(version: i64, path: &Path) -> Result<(), StoreError> {
    if (0..=SCHEMA_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            known: SCHEMA_VERSION,
        })
    }
}

/// Refuses a file that is not a memory database this code can use: another
/// program's (its `application_id`, or tables before any version), or a newer one.
pub(crate) fn check_ours(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    let found = version(conn, path)?;
    let application_id: i64 = conn
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(sqlite)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(sqlite)?;
    let foreign = if found == 0 {
        tables > 0
    } else {
        application_id != APPLICATION_ID
    };
    if foreign {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
        });
    }
    check_known(found, path)?;
    check_objects(conn, path, found)
}

/// One schema object as `sqlite_schema` lists it: type, name, table, SQL text.
type SchemaObject = (String, String, String, Option<String>);

/// The schema objects of `conn`, sorted (statistics tables aside: data, not code).
fn objects(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut statement = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema
         WHERE name NOT LIKE 'sqlite\\_stat%' ESCAPE '\\'
         ORDER BY type, name",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?;
    rows.collect()
}

/// Refuses a file whose tables, indexes, triggers and views are not exactly what
/// the migrations up to `version` create, SQL text and all: the plugin's uid can
/// write the file, and a trigger or view planted in it would otherwise run in
/// whoever opens it next (the host CLI, perhaps as root). The expected objects
/// come from running the same migrations on an empty database in memory.
fn check_objects(conn: &Connection, path: &Path, version: i64) -> Result<(), StoreError> {
    if version == 0 {
        return Ok(());
    }
    let sqlite = |e| StoreError::sqlite(path, e);
    let expected = expected_objects(version).map_err(sqlite)?;
    let found = objects(conn).map_err(sqlite)?;
    if found == expected {
        return Ok(());
    }
    let unexpected = found
        .iter()
        .find(|object| !expected.contains(object))
        .map(|(kind, name, _, _)| {
            format!(
                "{kind} `{}` is not one this plugin made",
                name.escape_debug()
            )
        })
        .or_else(|| {
            expected
                .iter()
                .find(|object| !found.contains(object))
                .map(|(kind, name, _, _)| format!("{kind} `{name}` is missing"))
        })
        .unwrap_or_else(|| "its schema is not this plugin's".into());
    Err(StoreError::Corrupt {
        path: path.to_owned(),
        detail: format!("schema: {unexpected}"),
    })
}

/// The objects the migrations up to `version` create on an empty database.
fn expected_objects(version: i64) -> rusqlite::Result<Vec<SchemaObject>> {
    let conn = Connection::open_in_memory()?;
    for step in MIGRATIONS
        .iter()
        .take(usize::try_from(version).unwrap_or(0))
    {
        conn.execute_batch(step)?;
    }
    objects(&conn)
}

/// Brings the database to [`SCHEMA_VERSION`] in one transaction (nothing to do when it is there).
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    if version(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let found = version(&tx, path)?;
    check_known(found, path)?;
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(step).map_err(sqlite)?;
    }
    if found == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sqlite)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sqlite)?;
    tx.commit().map_err(sqlite)
}
