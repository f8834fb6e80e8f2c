//! The scheduler's SQLite store: tasks and their fires.
//!
//! A fire is recorded (`pending`, committed with `synchronous = FULL`) in the
//! same transaction that moves its task to its next slot; only then is it
//! published, and marked `published` after. Must never publish a fire it has
//! not committed, nor move a task past a slot without recording what became of it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::database;
use crate::error::{Invalid, SchedError};
use crate::misfire::{Misfire, Plan};
use crate::task::{fire_id, Creator, Fire, Source, State, Task, Trust};

/// `fires.outcome` of a slot passed over because its group was paused.
pub const PAUSED: &str = "PAUSED";
/// `fires.outcome` of a late slot a misfire policy passed over.
pub const MISSED: &str = "MISSED";
/// `fires.outcome` of a late slot the group's catch-up cap passed over.
pub const CAPPED: &str = "CAPPED";

/// How long fires other than pending ones are kept.
const KEEP_FIRES_SECS: i64 = 7 * 86_400;

/// A new task, checked by the caller.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The group.
    pub group: String,
    /// The cron pattern (or `at`).
    pub cron: Option<String>,
    /// The instant (or `cron`).
    pub at: Option<Timestamp>,
    /// The zone.
    pub tz: String,
    /// The prompt.
    pub prompt: String,
    /// The misfire policy.
    pub misfire: Misfire,
    /// The creator's trust.
    pub trust: Trust,
    /// The creating session.
    pub created_by: Option<String>,
    /// The creating session's sender, if it had one.
    pub creator: Option<Creator>,
    /// The first slot (`None`: a one-shot task already past, stored as done).
    pub next_at: Option<Timestamp>,
}

/// The store.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const TASK_COLUMNS: &str = "id, group_name, source, cron, at, tz, prompt, misfire, trust, \
                            created_by, created_at, state, next_at, last_fire_at, \
                            creator_kind, creator_plugin, creator_sender";

fn task_of(row: &Row<'_>) -> rusqlite::Result<Task> {
    let source: String = row.get(2)?;
    let misfire: String = row.get(7)?;
    let trust: String = row.get(8)?;
    let state: String = row.get(11)?;
    Ok(Task {
        id: row.get(0)?,
        group: row.get(1)?,
        source: if source == "config" {
            Source::Config
        } else {
            Source::Agent
        },
        cron: row.get(3)?,
        at: row.get(4)?,
        tz: row.get(5)?,
        prompt: row.get(6)?,
        misfire: Misfire::parse(&misfire).unwrap_or_default(),
        trust: Trust::of(Some(trust.as_str())),
        created_by: row.get(9)?,
        created_at: row.get(10)?,
        state: State::parse(&state).unwrap_or(State::Paused),
        next_at: row.get(12)?,
        last_fire_at: row.get(13)?,
        creator: Creator::of(
            &row.get::<_, Option<String>>(14)?.unwrap_or_default(),
            row.get::<_, Option<String>>(15)?.as_deref(),
            row.get::<_, Option<String>>(16)?.as_deref(),
        ),
    })
}

/// `active`, or `done` for a task with no slot left.
fn initial_state(task: &NewTask) -> &'static str {
    if task.next_at.is_some() {
        "active"
    } else {
        "done"
    }
}

impl Store {
    /// Opens (checks, creates, migrates) `<data_dir>/scheduler.sqlite`.
    pub fn open(data_dir: &Path) -> Result<Store, SchedError> {
        let path = data_dir.join(database::FILE);
        let conn = database::open(&path)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sqlite(&self, source: rusqlite::Error) -> SchedError {
        SchedError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes the config's tasks (`config:<name>`): new ones added, changed ones
    /// rescheduled from `now`, ones no longer declared cancelled.
    pub fn sync_config(
        &self,
        tasks: &[(String, NewTask)],
        now: Timestamp,
    ) -> Result<(), SchedError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite(e))?;
        let mut declared = Vec::new();
        for (name, task) in tasks {
            let id = format!("config:{name}");
            let at = task.at.map(|at| at.as_second());
            let same_schedule: bool = tx
                .query_row(
                    "SELECT count(*) > 0 FROM tasks WHERE id = ?1 AND cron IS ?2 AND at IS ?3
                     AND tz = ?4 AND group_name = ?5 AND state <> 'cancelled'",
                    params![id, task.cron, at, task.tz, task.group],
                    |row| row.get(0),
                )
                .map_err(|e| self.sqlite(e))?;
            if same_schedule {
                tx.execute(
                    "UPDATE tasks SET prompt = ?2, misfire = ?3 WHERE id = ?1",
                    params![id, task.prompt, task.misfire.as_str()],
                )
                .map_err(|e| self.sqlite(e))?;
            } else {
                tx.execute("DELETE FROM tasks WHERE id = ?1", [&id])
                    .map_err(|e| self.sqlite(e))?;
                tx.execute(
                    "INSERT INTO tasks (id, group_name, source, cron, at, tz, prompt, misfire, trust,
                                        created_by, created_at, state, next_at)
                     VALUES (?1, ?2, 'config', ?3, ?4, ?5, ?6, ?7, 'owner', NULL, ?8, ?9, ?10)",
                    params![id, task.group, task.cron, at, task.tz, task.prompt, task.misfire.as_str(),
                            now.as_second(), initial_state(task), task.next_at.map(|t| t.as_second())],
                )
                .map_err(|e| self.sqlite(e))?;
            }
            declared.push(id);
        }
        let mut statement = tx
            .prepare("SELECT id FROM tasks WHERE source = 'config' AND state <> 'cancelled'")
            .map_err(|e| self.sqlite(e))?;
        let stored: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sqlite(e))?;
        drop(statement);
        for id in stored.iter().filter(|id| !declared.contains(id)) {
            tx.execute(
                "UPDATE tasks SET state = 'cancelled', next_at = NULL WHERE id = ?1",
                [id],
            )
            .map_err(|e| self.sqlite(e))?;
        }
        tx.commit().map_err(|e| self.sqlite(e))
    }

    /// Stores a task a session made, unless its group holds `max` of them.
    pub fn create(&self, task: &NewTask, now: Timestamp, max: u32) -> Result<Task, SchedError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite(e))?;
        let count: u32 = tx
            .query_row(
                "SELECT count(*) FROM tasks WHERE group_name = ?1 AND source = 'agent'
                 AND state IN ('active', 'paused')",
                [&task.group],
                |row| row.get(0),
            )
            .map_err(|e| self.sqlite(e))?;
        if count >= max {
            return Err(SchedError::Full(max));
        }
        let number: i64 = tx
            .query_row(
                "INSERT INTO counters (name, value) VALUES ('task', 1)
                 ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
                [],
                |row| row.get(0),
            )
            .map_err(|e| self.sqlite(e))?;
        let id = format!("t{number}");
        tx.execute(
            "INSERT INTO tasks (id, group_name, source, cron, at, tz, prompt, misfire, trust,
                                created_by, created_at, state, next_at,
                                creator_kind, creator_plugin, creator_sender)
             VALUES (?1, ?2, 'agent', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                id,
                task.group,
                task.cron,
                task.at.map(|at| at.as_second()),
                task.tz,
                task.prompt,
                task.misfire.as_str(),
                task.trust.as_str(),
                task.created_by,
                now.as_second(),
                initial_state(task),
                task.next_at.map(|t| t.as_second()),
                task.creator.as_ref().map(|c| c.kind.as_str()),
                task.creator.as_ref().map(|c| c.plugin.as_str()),
                task.creator.as_ref().map(|c| c.sender.as_str()),
            ],
        )
        .map_err(|e| self.sqlite(e))?;
        let stored = tx
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
                [&id],
                task_of,
            )
            .map_err(|e| self.sqlite(e))?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(stored)
    }

    /// The group's tasks that are active or paused, by id.
    pub fn list(&self, group: &str) -> Result<Vec<Task>, SchedError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE group_name = ?1
                 AND state IN ('active', 'paused') ORDER BY source, length(id), id"
            ))
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([group], task_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Task>>>());
        rows.map_err(|e| self.sqlite(e))
    }

    /// Task `id` of `group` (any state), or a `VALIDATION_FAILED` on `id`.
    pub fn get(&self, group: &str, id: &str) -> Result<Task, SchedError> {
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1 AND group_name = ?2"),
                params![id, group],
                task_of,
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        found.ok_or_else(|| Invalid::new("id", "no task with this id in this group").into())
    }

    /// Sets task `id`'s state and next slot.
    pub fn set_state(
        &self,
        id: &str,
        state: State,
        next_at: Option<Timestamp>,
    ) -> Result<(), SchedError> {
        self.conn()
            .execute(
                "UPDATE tasks SET state = ?2, next_at = ?3 WHERE id = ?1",
                params![id, state.as_str(), next_at.map(|t| t.as_second())],
            )
            .map(drop)
            .map_err(|e| self.sqlite(e))
    }

    /// Active tasks whose next slot is at or before `now`, oldest slot first, at most `limit`.
    pub fn due(&self, now: Timestamp, limit: u32) -> Result<Vec<Task>, SchedError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE state = 'active' AND next_at <= ?1
                 ORDER BY next_at LIMIT ?2"
            ))
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![now.as_second(), limit], task_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Task>>>());
        rows.map_err(|e| self.sqlite(e))
    }

    /// The earliest next slot of any active task.
    pub fn next_due(&self) -> Result<Option<Timestamp>, SchedError> {
        let next: Option<i64> = self
            .conn()
            .query_row(
                "SELECT min(next_at) FROM tasks WHERE state = 'active'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(next.and_then(|n| Timestamp::from_second(n).ok()))
    }

    /// Records what `plan` does with `task`'s due slots, in one synced
    /// transaction: its fires `pending` (or `skipped`, all of them, when its
    /// group is `paused`), its skipped slots, its next slot. Answers the pending fires.
    pub fn record(
        &self,
        task: &Task,
        plan: &Plan,
        paused: bool,
        now: Timestamp,
    ) -> Result<Vec<Fire>, SchedError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite(e))?;
        // The task as it is now, inside the transaction: a cancel or pause that
        // committed since `due` read it wins, and nothing is recorded for it.
        let current: Option<(String, Option<i64>)> = tx
            .query_row(
                "SELECT state, next_at FROM tasks WHERE id = ?1",
                params![task.id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        if current != Some((State::Active.as_str().to_owned(), task.next_at)) {
            return Ok(Vec::new());
        }
        let mut pending = Vec::new();
        let (fired_state, fired_outcome) = if paused {
            ("skipped", Some(PAUSED))
        } else {
            ("pending", None)
        };
        for (slot, state, outcome) in plan
            .fire
            .iter()
            .map(|slot| (slot, fired_state, fired_outcome))
            .chain(
                plan.skipped
                    .iter()
                    .map(|slot| (slot, "skipped", Some(MISSED))),
            )
            .chain(
                plan.capped
                    .iter()
                    .map(|slot| (slot, "skipped", Some(CAPPED))),
            )
        {
            let id = fire_id(&task.id, *slot);
            let inserted = tx
                .execute(
                    "INSERT INTO fires (fire_id, task_id, scheduled_at, state, recorded_at, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (fire_id) DO NOTHING",
                    params![id, task.id, slot.as_second(), state, now.as_second(), outcome],
                )
                .map_err(|e| self.sqlite(e))?;
            if inserted == 1 && state == "pending" {
                pending.push(Fire {
                    fire_id: id,
                    task_id: task.id.clone(),
                    group: task.group.clone(),
                    scheduled_at: slot.as_second(),
                    prompt: task.prompt.clone(),
                    trust: task.trust,
                    tz: task.tz.clone(),
                });
            }
        }
        let state = if plan.next.is_some() {
            task.state
        } else {
            State::Done
        };
        let last = plan
            .fire
            .last()
            .map(|t| t.as_second())
            .or(task.last_fire_at);
        tx.execute(
            "UPDATE tasks SET next_at = ?2, state = ?3, last_fire_at = ?4 WHERE id = ?1",
            params![
                task.id,
                plan.next.map(|t| t.as_second()),
                state.as_str(),
                last
            ],
        )
        .map_err(|e| self.sqlite(e))?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(pending)
    }

    /// Every fire recorded and not yet marked published, oldest first.
    pub fn pending(&self) -> Result<Vec<Fire>, SchedError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(
                "SELECT f.fire_id, f.task_id, t.group_name, f.scheduled_at, t.prompt, t.trust, t.tz
                 FROM fires f JOIN tasks t ON t.id = f.task_id
                 WHERE f.state = 'pending' ORDER BY f.scheduled_at",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([], |row| {
                let trust: String = row.get(5)?;
                Ok(Fire {
                    fire_id: row.get(0)?,
                    task_id: row.get(1)?,
                    group: row.get(2)?,
                    scheduled_at: row.get(3)?,
                    prompt: row.get(4)?,
                    trust: Trust::of(Some(trust.as_str())),
                    tz: row.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Fire>>>());
        rows.map_err(|e| self.sqlite(e))
    }

    /// Marks a pending fire by the core's answer: `published` or `skipped`,
    /// with `outcome` (`started`, or the core's code).
    pub fn mark(
        &self,
        fire_id: &str,
        state: &str,
        outcome: &str,
        now: Timestamp,
    ) -> Result<(), SchedError> {
        self.conn()
            .execute(
                "UPDATE fires SET state = ?2, outcome = ?3, published_at = ?4
                 WHERE fire_id = ?1 AND state = 'pending'",
                params![fire_id, state, outcome, now.as_second()],
            )
            .map(drop)
            .map_err(|e| self.sqlite(e))
    }

    /// Forgets fires that are no longer pending and older than a week.
    pub fn prune(&self, now: Timestamp) -> Result<usize, SchedError> {
        self.conn()
            .execute(
                "DELETE FROM fires WHERE state <> 'pending' AND recorded_at < ?1",
                [now.as_second() - KEEP_FIRES_SECS],
            )
            .map_err(|e| self.sqlite(e))
    }

    /// The fires of `task_id`, `(fire_id, state)`, oldest first (for tests and `list_tasks`).
    pub fn fires_of(&self, task_id: &str) -> Result<Vec<(String, String)>, SchedError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(
                "SELECT fire_id, state FROM fires WHERE task_id = ?1 ORDER BY scheduled_at",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([task_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<(String, String)>>>());
        rows.map_err(|e| self.sqlite(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn a_cancel_or_pause_made_after_due_wins_over_the_fire() {
        for (state, left) in [(State::Cancelled, "cancelled"), (State::Paused, "paused")] {
            let dir = tempfile::tempdir().expect("temp");
            let store = Store::open(dir.path()).expect("store");
            let new = NewTask {
                group: "main".into(),
                cron: Some("0 * * * *".into()),
                at: None,
                tz: "UTC".into(),
                prompt: "hourly".into(),
                misfire: Misfire::RunOnce,
                trust: Trust::Owner,
                created_by: None,
                creator: None,
                next_at: Some(ts("2026-12-03T10:00:00Z")),
            };
            let now = ts("2026-12-03T10:00:00Z");
            let task = store.create(&new, now, 100).expect("create");
            let due = store.due(now, 10).expect("due");
            assert_eq!(due.len(), 1);
            store.set_state(&task.id, state, None).expect("change");
            let plan = Plan {
                fire: vec![now],
                next: Some(ts("2026-12-03T11:00:00Z")),
                ..Plan::default()
            };
            let fires = store.record(&due[0], &plan, false, now).expect("record");
            assert!(fires.is_empty(), "{left}: {fires:?}");
            let kept = store.get("main", &task.id).expect("task");
            assert_eq!(kept.state.as_str(), left);
        }
    }
}
