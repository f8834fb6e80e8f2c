//! The fires of scheduled tasks the core has already taken (`task.triggered`'s
//! `fire_id`), so that a scheduler may publish a fire again after a crash and
//! the core still starts at most one session for it.
//!
//! Kept in `state/task_fires`: one fire id a line, appended and synced to disk
//! before the session starts, the newest [`KEPT`] read back at start (a torn
//! last line, from a crash mid-append, is dropped). The file is compacted to
//! the newest [`KEPT`] once it holds twice as many. Must never forget a fire id
//! it answered "new" for while it is among the newest [`KEPT`], nor read the
//! file through a link or from another owner.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::paths::{append_private_line, read_private_file, write_private_file, PrivateReadError};

/// How many fire ids are remembered (a scheduler re-publishes only its last few).
pub const KEPT: usize = 10_000;
/// Longest fire id, in bytes.
pub const MAX_FIRE_ID_BYTES: usize = 128;
/// Largest file read back (twice [`KEPT`] ids of the longest form, and some).
const MAX_FILE_BYTES: u64 = (2 * KEPT as u64 + 16) * (MAX_FIRE_ID_BYTES as u64 + 1);

/// Whether `id` is a fire id as a scheduler writes one: 1 to 128 bytes of
/// `[A-Za-z0-9_.:@+-]` (a task id, `@`, an RFC 3339 UTC instant).
pub fn valid_fire_id(id: &str) -> bool {
    (1..=MAX_FIRE_ID_BYTES).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'@' | b'+' | b'-')
        })
}

/// Why the fires file could not be read at start.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}; the core will not start with it (a task could run twice): fix or remove the file")]
pub struct FiresError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What [`TaskFires::take`] found.
#[derive(Debug)]
pub enum Taken {
    /// Seen before: no session may start for it.
    Again,
    /// New, and now remembered; `saved` says whether it is on disk.
    New {
        /// The append (and sync) of its line.
        saved: std::io::Result<()>,
    },
}

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
    lines_in_file: usize,
}

/// The fire ids taken, and where they are kept.
pub struct TaskFires {
    /// `state/task_fires`, or `None` for a core that keeps nothing (benches).
    file: Option<PathBuf>,
    /// How many are remembered ([`KEPT`]; fewer in tests).
    kept: usize,
    seen: Mutex<Seen>,
}

impl Default for TaskFires {
    fn default() -> TaskFires {
        TaskFires {
            file: None,
            kept: KEPT,
            seen: Mutex::default(),
        }
    }
}

impl TaskFires {
    /// A ledger that keeps nothing on disk.
    pub fn in_memory() -> TaskFires {
        TaskFires::default()
    }

    /// Reads `file` (missing: nothing taken yet).
    pub fn load(file: &Path) -> Result<TaskFires, FiresError> {
        TaskFires::load_keeping(file, KEPT)
    }

    /// [`TaskFires::load`], remembering the newest `kept`.
    fn load_keeping(file: &Path, kept: usize) -> Result<TaskFires, FiresError> {
        let refused = |reason: String| FiresError {
            path: file.display().to_string(),
            reason,
        };
        let bytes = match read_private_file(file, MAX_FILE_BYTES) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(PrivateReadError::TooLarge(max)) => {
                return Err(refused(format!("over {max} bytes")))
            }
            Err(PrivateReadError::Unsafe(why)) => return Err(refused(why)),
        };
        let mut seen = Seen::default();
        // A last line without its newline was cut by a crash before its sync: the
        // session it would have started never started.
        let complete = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(end) => &bytes[..=end],
            None => &[][..],
        };
        for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let id = std::str::from_utf8(line)
                .ok()
                .filter(|id| valid_fire_id(id))
                .ok_or_else(|| refused("a line is not a fire id".into()))?;
            seen.lines_in_file += 1;
            remember(&mut seen, id.to_owned(), kept);
        }
        Ok(TaskFires {
            file: Some(file.to_owned()),
            kept,
            seen: Mutex::new(seen),
        })
    }

    /// Takes `fire_id` (valid, see [`valid_fire_id`]): `Again` if it was taken
    /// before, else remembers it (on disk first, synced) and answers `New`.
    pub fn take(&self, fire_id: &str) -> Taken {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.ids.contains(fire_id) {
            return Taken::Again;
        }
        remember(&mut seen, fire_id.to_owned(), self.kept);
        let saved = match &self.file {
            Some(file) => append(file, fire_id).and_then(|()| {
                seen.lines_in_file += 1;
                if seen.lines_in_file >= 2 * self.kept {
                    compact(file, &seen.order)?;
                    seen.lines_in_file = seen.order.len();
                }
                Ok(())
            }),
            None => Ok(()),
        };
        Taken::New { saved }
    }
}

/// Adds `id` as the newest, forgetting the oldest past `kept`.
fn remember(seen: &mut Seen, id: String, kept: usize) {
    if !seen.ids.insert(id.clone()) {
        return;
    }
    seen.order.push_back(id);
    while seen.order.len() > kept {
        if let Some(oldest) = seen.order.pop_front() {
            seen.ids.remove(&oldest);
        }
    }
}

/// Appends one line to `file` (0600, never through a link) and syncs it.
fn append(file: &Path, id: &str) -> std::io::Result<()> {
    append_private_line(file, format!("{id}\n").as_bytes(), true)
}

/// Rewrites `file` atomically with the ids kept.
fn compact(file: &Path, kept: &VecDeque<String>) -> std::io::Result<()> {
    let dir = file
        .parent()
        .ok_or_else(|| std::io::Error::other("the fires file has no directory"))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("the fires file has no name"))?;
    let mut text = String::with_capacity(kept.len() * 48);
    for id in kept {
        text.push_str(id);
        text.push('\n');
    }
    write_private_file(dir, name, text.as_bytes()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn new(taken: Taken) -> bool {
        match taken {
            Taken::New { saved } => {
                saved.expect("saved");
                true
            }
            Taken::Again => false,
        }
    }

    #[test]
    fn a_fire_is_taken_once_across_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("task_fires");
        let fires = TaskFires::load(&file).expect("no file");
        assert!(new(fires.take("t1@2026-12-03T10:00:00Z")));
        assert!(!new(fires.take("t1@2026-12-03T10:00:00Z")));
        assert!(new(fires.take("t1@2026-12-03T11:00:00Z")));
        let mode = std::fs::metadata(&file).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = TaskFires::load(&file).expect("reads back");
        assert!(!new(again.take("t1@2026-12-03T10:00:00Z")));
        assert!(!new(again.take("t1@2026-12-03T11:00:00Z")));
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_bad_line_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("task_fires");
        std::fs::write(&file, "a@1\nb@2").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("mode");
        let fires = TaskFires::load(&file).expect("torn tail");
        assert!(!new(fires.take("a@1")));
        assert!(new(fires.take("b@2")), "the torn line never counted");
        std::fs::write(&file, "a@1\nnot a fire id\n").expect("write");
        assert!(TaskFires::load(&file).is_err());
        std::fs::write(&file, "a@1\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("mode");
        assert!(TaskFires::load(&file).is_err(), "loose mode");
    }

    #[test]
    fn the_newest_are_kept_and_the_file_compacted() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("task_fires");
        let kept = 100;
        let fires = TaskFires::load_keeping(&file, kept).expect("no file");
        for n in 0..(2 * kept + 5) {
            assert!(new(fires.take(&format!("t@{n}"))));
        }
        let lines = std::fs::read_to_string(&file)
            .expect("read")
            .lines()
            .count();
        assert!(lines <= kept + 5, "{lines}");
        let again = TaskFires::load_keeping(&file, kept).expect("reads");
        assert!(!new(again.take(&format!("t@{}", 2 * kept + 4))));
        assert!(new(again.take("t@0")), "the oldest are forgotten");
    }

    #[test]
    fn fire_ids_are_plain_and_bounded() {
        assert!(valid_fire_id("t42@2026-12-03T10:00:00Z"));
        assert!(valid_fire_id("config:daily@2026-12-03T10:00:00Z"));
        for bad in ["", "a b", "a\nb", "a/b", "é", &"x".repeat(129)] {
            assert!(!valid_fire_id(bad), "{bad:?}");
        }
    }
}
