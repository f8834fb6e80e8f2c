//! The database schema, versioned with `PRAGMA user_version` and marked with
//! `PRAGMA application_id`: migrations run in order, each in the transaction
//! that sets its version. Must never touch a database that is newer, another
//! program's, or holds a schema object the migrations did not make.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::SchedError;

/// Version 1: tasks, their fires, a counter for task ids.
///
/// Instants are Unix seconds (UTC). A fire's id is `<task>@<UTC instant>`; its
/// row is written (`pending`) and committed before `task.triggered` is
/// published, then marked `published`; `skipped` records a slot a misfire
/// policy or a paused group passed over.
const V1: &str = "
CREATE TABLE tasks (
    id           TEXT PRIMARY KEY,
    group_name   TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('agent', 'config')),
    cron         TEXT,
    at           INTEGER,
    tz           TEXT NOT NULL,
    prompt       TEXT NOT NULL,
    misfire      TEXT NOT NULL CHECK (misfire IN ('skip', 'run_once', 'run_all')),
    trust        TEXT NOT NULL CHECK (trust IN ('owner', 'contact', 'unknown')),
    created_by   TEXT,
    created_at   INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'paused', 'done', 'cancelled')),
    next_at      INTEGER,
    last_fire_at INTEGER,
    CHECK ((cron IS NULL) <> (at IS NULL))
) WITHOUT ROWID;
CREATE INDEX tasks_due ON tasks (next_at) WHERE state = 'active';
CREATE INDEX tasks_group ON tasks (group_name, state);

CREATE TABLE fires (
    fire_id      TEXT PRIMARY KEY,
    task_id      TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'published', 'skipped')),
    recorded_at  INTEGER NOT NULL,
    published_at INTEGER
) WITHOUT ROWID;
CREATE INDEX fires_pending ON fires (scheduled_at) WHERE state = 'pending';
CREATE INDEX fires_recorded ON fires (recorded_at);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Version 2: who made a task (the creating session's origin kind, plugin and
/// sender, so a sender's later sessions find their own tasks), and what the
/// core answered to a fire (`outcome`: `started`, or the code it refused with).
///
/// Rows from version 1 keep `NULL` creators: they are matched by session, as
/// before. `fires.state` keeps its three values: `pending` until the core
/// acknowledged the fire, `published` once it took it, `skipped` when a
/// misfire policy, a cap or a paused group passed it over (`outcome` says which
/// when the core refused it).
const V2: &str = "
ALTER TABLE tasks ADD COLUMN creator_kind TEXT;
ALTER TABLE tasks ADD COLUMN creator_plugin TEXT;
ALTER TABLE tasks ADD COLUMN creator_sender TEXT;
CREATE INDEX tasks_creator ON tasks (group_name, creator_plugin, creator_sender);
ALTER TABLE fires ADD COLUMN outcome TEXT;
";

/// `PRAGMA application_id` of a scheduler database (`CrSc`).
pub const APPLICATION_ID: i64 = 0x4372_5363;

const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn refused(path: &Path, detail: impl Into<String>) -> SchedError {
    SchedError::Refused {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> SchedError + '_ {
    move |source| SchedError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

/// Refuses a file that is not a scheduler database this code can use.
pub fn check_ours(conn: &Connection, path: &Path) -> Result<(), SchedError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite(path))?;
    let application_id: i64 = conn
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(sqlite(path))?;
    let objects = objects(conn).map_err(sqlite(path))?;
    if version == 0 {
        if !objects.is_empty() {
            return Err(refused(
                path,
                "not a scheduler database (another program's?)",
            ));
        }
        return Ok(());
    }
    if application_id != APPLICATION_ID {
        return Err(refused(
            path,
            "not a scheduler database (another program's?)",
        ));
    }
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(refused(
            path,
            format!("schema version {version} is newer than this plugin knows ({SCHEMA_VERSION}); upgrade the plugin"),
        ));
    }
    let expected = expected_objects(version).map_err(sqlite(path))?;
    if objects != expected {
        return Err(refused(
            path,
            "its schema objects are not exactly this plugin's",
        ));
    }
    Ok(())
}

type SchemaObject = (String, String, String, Option<String>);

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

/// Brings the database to [`SCHEMA_VERSION`] in one transaction.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), SchedError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite(path))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite(path))?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    if !(0..SCHEMA_VERSION).contains(&found) {
        return Err(refused(
            path,
            format!("schema version {found} is newer than this plugin knows"),
        ));
    }
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(step).map_err(sqlite(path))?;
    }
    if found == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sqlite(path))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sqlite(path))?;
    tx.commit().map_err(sqlite(path))
}
