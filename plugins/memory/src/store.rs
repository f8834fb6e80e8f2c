//! `Store`: one group's memory, on one connection behind a mutex; every write is
//! one `BEGIN IMMEDIATE` transaction, its caps counted inside it.
//!
//! Must never let an untrusted actor replace or delete an owner's entry, nor
//! write provenance from anything but the [`Actor`] and the store itself.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use carapace_plugin_sdk::MemoryBrief;
use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use crate::actor::{store_caps, Actor, Sight};
use crate::brief::{self, BriefLimits};
use crate::caps::{self, Cap};
use crate::database::{self, Create};
use crate::entry::{Entry, NewEntry, Trust};
use crate::error::StoreError;
use crate::group::database_path;
use crate::row;
use crate::search::{self, Search};
use crate::taint;

/// The current time as stored: RFC 3339, UTC, milliseconds.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Days after which a session's cap counts are forgotten (see [`caps::forget_older_than`]).
const FORGET_CAPS_AFTER_DAYS: u32 = 30;

/// Full-text index segments a group may have before [`Store::compact_index`] merges them.
pub const MAX_INDEX_SEGMENTS: i64 = 8;

/// One group's memory database.
pub struct Store {
    path: PathBuf,
    group: String,
    conn: Mutex<Connection>,
}

/// A failure inside a transaction: a rule the store keeps, or SQLite's.
pub(crate) enum Failure {
    Rule(StoreError),
    Sql(rusqlite::Error),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Rule(error)
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Failure {
        Failure::Sql(error)
    }
}

impl Store {
    /// Opens `<data_dir>/<group>.sqlite`, creating it if missing: checked
    /// (a database, a known schema, `quick_check`), then migrated.
    pub fn open(data_dir: &Path, group: &str) -> Result<Store, StoreError> {
        Store::open_with(data_dir, group, Create::IfMissing)
    }

    /// Like [`Store::open`], but a missing file is [`StoreError::NoDatabase`] (for readers).
    pub fn open_existing(data_dir: &Path, group: &str) -> Result<Store, StoreError> {
        Store::open_with(data_dir, group, Create::Never)
    }

    fn open_with(data_dir: &Path, group: &str, create: Create) -> Result<Store, StoreError> {
        let path = database_path(data_dir, group)?;
        let conn = database::open(&path, create)?;
        Ok(Store {
            path,
            group: group.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    /// The group this store holds.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `new` as written by `actor`: provenance and trust from `actor`, the
    /// caps of a session counted, `supersedes` checked and the old entry marked.
    pub fn store(&self, actor: &Actor, new: NewEntry) -> Result<Entry, StoreError> {
        let new = new.checked()?;
        self.write(|tx| {
            let trust = taint::stored_trust(tx, actor.capped_session(), new.kind, actor.trust())?;
            if let Some(old_id) = new.supersedes {
                replaceable(tx, actor, trust, old_id)?;
            } else if trust == Trust::Untrusted {
                taint::room_for_others(tx, actor.origin())??;
            }
            count(tx, actor, store_caps(new.supersedes.is_some()))?;
            // Origin and tags serialize infallibly (strings only).
            let origin = actor.origin().and_then(|o| serde_json::to_string(o).ok());
            let tags = serde_json::Value::from(new.tags.clone()).to_string();
            tx.prepare_cached(&format!(
                "INSERT INTO entries (type, content, tags, supersedes, session, group_name,
                                      created_at, origin, trust)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, {NOW}, ?7, ?8)"
            ))?
            .execute(params![
                new.kind,
                new.content,
                tags,
                new.supersedes,
                actor.name(),
                self.group,
                origin,
                trust,
            ])?;
            let id = tx.last_insert_rowid();
            let mut tag =
                tx.prepare_cached("INSERT INTO entry_tags (tag, entry_id) VALUES (?1, ?2)")?;
            for name in &new.tags {
                tag.execute(params![name, id])?;
            }
            if let Some(old_id) = new.supersedes {
                tx.prepare_cached(
                    "UPDATE entries SET superseded_by = ?1,
                        superseded_at = (SELECT created_at FROM entries WHERE id = ?1)
                     WHERE id = ?2",
                )?
                .execute(params![id, old_id])?;
            }
            existing(tx, id, "id")
        })
    }

    /// The entry with `id`, current or not.
    pub fn get(&self, id: i64) -> Result<Option<Entry>, StoreError> {
        self.read(|conn| row::by_id(conn, id))
    }

    /// The entries `search` asks for, best match (or newest) first.
    pub fn search(&self, search: &Search) -> Result<Vec<Entry>, StoreError> {
        self.read(|conn| search::run(conn, search, Sight::All))
    }

    /// Like [`Store::search`], for `actor` and over what it may see (see
    /// [`crate::actor`]): an owner's session shown an untrusted entry is recorded
    /// as such (see [`crate::taint`]).
    pub fn search_as(&self, actor: &Actor, search: &Search) -> Result<Vec<Entry>, StoreError> {
        self.read(|conn| {
            let found = search::run(conn, search, actor.sight())?;
            if let Some(session) = actor.capped_session() {
                if actor.trust() == Trust::Owner
                    && found.iter().any(|e| e.trust == Trust::Untrusted)
                {
                    taint::mark(conn, session)?;
                }
            }
            Ok(found)
        })
    }

    /// Removes entry `id` for good (its row, tags and index entries), as asked by
    /// `actor`; returns what it was. An untrusted session cannot delete the owner's.
    pub fn delete(&self, actor: &Actor, id: i64) -> Result<Entry, StoreError> {
        self.write(|tx| {
            let entry = visible(tx, actor, id, "id")?;
            if !actor.may_change(entry.trust) {
                return Err(StoreError::invalid(
                    "id",
                    format!(
                        "entry #{id} is the owner's, and this session was not started by the owner: \
                         it cannot delete it"
                    ),
                )
                .into());
            }
            count(tx, actor, &[Cap::Deletes])?;
            tx.prepare_cached("DELETE FROM entries WHERE id = ?1")?
                .execute(params![id])?;
            Ok(entry)
        })
    }

    /// Marks entry `id` as the owner's word, recording when and `by` whom (the
    /// person approved it); an entry already the owner's is returned unchanged.
    pub fn promote(&self, id: i64, by: &str) -> Result<Entry, StoreError> {
        let person = Actor::Person {
            name: by.to_owned(),
        };
        self.promote_if(&person, id, None)
    }

    /// Like [`Store::promote`], asked by the session `actor` (an entry it cannot
    /// see is not there), only if the entry's content is exactly `shown` (the text
    /// the person approved); otherwise `VALIDATION_FAILED` on `content`.
    pub fn promote_shown(&self, actor: &Actor, id: i64, shown: &str) -> Result<Entry, StoreError> {
        self.promote_if(actor, id, Some(shown))
    }

    fn promote_if(&self, actor: &Actor, id: i64, shown: Option<&str>) -> Result<Entry, StoreError> {
        let by = actor.name();
        self.write(|tx| {
            let entry = visible(tx, actor, id, "id")?;
            if shown.is_some_and(|shown| shown != entry.content) {
                return Err(StoreError::invalid(
                    "content",
                    format!(
                        "is not the text of entry #{id}: pass its exact content, which the owner approves"
                    ),
                )
                .into());
            }
            if entry.trust == Trust::Owner {
                return Ok(entry);
            }
            tx.prepare_cached(&format!(
                "UPDATE entries SET trust = 'owner', promoted_at = {NOW}, promoted_by = ?2
                 WHERE id = ?1"
            ))?
            .execute(params![id, by])?;
            existing(tx, id, "id")
        })
    }

    /// Deletes entries superseded more than `days` days ago; returns how many.
    /// Also forgets the cap counts of sessions idle for 30 days.
    pub fn purge_superseded(&self, days: u32) -> Result<usize, StoreError> {
        self.write(|tx| {
            let purged = tx.execute(
                "DELETE FROM entries WHERE superseded_at IS NOT NULL
                   AND superseded_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
                params![format!("-{days} days")],
            )?;
            caps::forget_older_than(tx, FORGET_CAPS_AFTER_DAYS)?;
            taint::forget_older_than(tx, FORGET_CAPS_AFTER_DAYS)?;
            Ok(purged)
        })
    }

    /// Merges the full-text index into one segment when it has grown more than
    /// [`MAX_INDEX_SEGMENTS`]; true when it did. An index grown one entry at a
    /// time keeps 10-30 segments, and each query word is looked up in every one:
    /// merged, a 2-word search at 100k entries took 40% less (measured). Costs
    /// about a second per 100k entries, so the plugin does it when it opens a
    /// group, not on a call.
    pub fn compact_index(&self) -> Result<bool, StoreError> {
        let segments: i64 = self.read(|conn| {
            conn.query_row(
                "SELECT count(DISTINCT segid) FROM entries_fts_idx",
                [],
                |row| row.get(0),
            )
        })?;
        if segments <= MAX_INDEX_SEGMENTS {
            return Ok(false);
        }
        self.write(|tx| {
            tx.execute(
                "INSERT INTO entries_fts (entries_fts) VALUES ('optimize')",
                [],
            )?;
            Ok(true)
        })
    }

    /// How many current (not superseded) entries the group holds.
    pub fn current_count(&self) -> Result<u64, StoreError> {
        self.read(brief::current_count)
    }

    /// The brief of what `sight` sees of this group (see [`crate::brief`]); the
    /// person's view is [`Sight::All`].
    pub fn brief(&self, limits: BriefLimits, sight: Sight<'_>) -> Result<MemoryBrief, StoreError> {
        self.read(|conn| Ok(brief::build(conn, limits, sight)?.brief))
    }

    /// The brief for the new session `actor`, of what it may see: when an owner's
    /// session is shown untrusted entries, it is recorded as shown them (see
    /// [`crate::taint`]).
    pub fn brief_for(&self, limits: BriefLimits, actor: &Actor) -> Result<MemoryBrief, StoreError> {
        self.read(|conn| {
            let built = brief::build(conn, limits, actor.sight())?;
            if let Some(session) = actor.capped_session() {
                if built.shows_others && actor.trust() == Trust::Owner {
                    taint::mark(conn, session)?;
                }
            }
            Ok(built.brief)
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-call dropped its transaction (rolled back): the connection is sound.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        f(&self.lock()).map_err(|e| StoreError::sqlite(&self.path, e))
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let sqlite = |e| StoreError::sqlite(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        match f(&tx) {
            Ok(value) => {
                tx.commit().map_err(sqlite)?;
                Ok(value)
            }
            Err(Failure::Rule(error)) => Err(error),
            Err(Failure::Sql(error)) => Err(sqlite(error)),
        }
    }
}

/// The entry `id`, or [`StoreError::Invalid`] on `field` saying there is none.
fn existing(tx: &Transaction<'_>, id: i64, field: &'static str) -> Result<Entry, Failure> {
    row::by_id(tx, id)?.ok_or_else(|| no_entry(id, field))
}

fn no_entry(id: i64, field: &'static str) -> Failure {
    StoreError::invalid(
        field,
        format!("there is no entry #{id} in this group's memory"),
    )
    .into()
}

/// The entry `id` if `actor` may see it; else the same error as for no entry
/// (a session is not told what it cannot see).
fn visible(
    tx: &Transaction<'_>,
    actor: &Actor,
    id: i64,
    field: &'static str,
) -> Result<Entry, Failure> {
    let entry = existing(tx, id, field)?;
    if actor.sight().sees(&entry) {
        Ok(entry)
    } else {
        Err(no_entry(id, field))
    }
}

/// Refuses to replace entry `old_id` unless it exists, is current, and `actor` may change it.
/// `trust` is what the new entry will count as.
fn replaceable(
    tx: &Transaction<'_>,
    actor: &Actor,
    trust: Trust,
    old_id: i64,
) -> Result<(), Failure> {
    let old = visible(tx, actor, old_id, "supersedes")?;
    if !old.is_current() {
        let newer = old
            .superseded_by
            .map(|newer| format!(" by #{newer}; supersede that one instead"))
            .unwrap_or_default();
        let reason = format!("entry #{old_id} was already replaced{newer}");
        return Err(StoreError::invalid("supersedes", reason).into());
    }
    if !actor.may_change(old.trust) {
        let reason = format!(
            "entry #{old_id} is the owner's, and this session was not started by the owner: \
             it cannot replace it (store a new entry instead)"
        );
        return Err(StoreError::invalid("supersedes", reason).into());
    }
    if old.trust == Trust::Owner && trust == Trust::Untrusted {
        let reason = format!(
            "this session was shown entries from others, so what it stores as an instruction, \
             correction or preference counts as untrusted and cannot replace the owner's entry \
             #{old_id}: store it without `supersedes` and ask the owner to promote it"
        );
        return Err(StoreError::invalid("supersedes", reason).into());
    }
    Ok(())
}

/// Counts `caps` for `actor`'s session (the person has none).
fn count(tx: &Transaction<'_>, actor: &Actor, caps: &[Cap]) -> Result<(), Failure> {
    match actor.capped_session() {
        Some(session) => {
            caps::count(tx, session, caps)?.map_err(|cap| StoreError::CapReached(cap).into())
        }
        None => Ok(()),
    }
}
