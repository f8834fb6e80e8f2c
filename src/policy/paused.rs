//! Paused groups (the kill switch): a paused group starts no session and makes
//! no call until it is resumed. State the core holds, kept in
//! `state/paused.json` (0600, written atomically: a temporary file, fsync,
//! rename, the directory fsynced) so a pause outlives a restart.
//!
//! Must never unpause silently: a state file that is not exactly what this
//! module writes (a link, another owner, loose mode, over 1 MiB, not JSON, an
//! unknown field, a bad group name) is refused by [`PausedGroups::load`], and
//! the core does not start. A pause that cannot be written is still in force
//! in memory (the caller is told); a resume that cannot be written is refused.
//!
//! Every call's stage 4 reads the paused set, so the file is written (with its
//! fsync) outside the lock those reads take: writers queue on a lock of their
//! own. A plugin's pause or resume of a group is also limited to
//! [`MAX_PLUGIN_CHANGES`] a [`CHANGE_WINDOW`] (`plugin_change_allowed`), so
//! alternating them cannot flood the audit log or keep sweeping a group.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::valid_group_name;
use crate::paths::{create_private_dir, read_private_file, write_private_file, PrivateReadError};

/// Largest state file read back.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// The state file's format.
const VERSION: u32 = 1;
/// Longest `by` kept.
pub const MAX_BY_CHARS: usize = 128;
/// Pauses and resumes of one group a plugin may make per [`CHANGE_WINDOW`].
pub const MAX_PLUGIN_CHANGES: usize = 10;
/// The window of [`MAX_PLUGIN_CHANGES`].
pub const CHANGE_WINDOW: Duration = Duration::from_secs(60);

/// One paused group: who paused it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// Who paused it: `cli`, or the user a plugin named (plain, at most 128 characters).
    pub by: String,
    /// The plugin that asked, if one did.
    #[serde(default)]
    pub plugin: Option<String>,
    /// RFC 3339 time it was paused.
    pub at: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    groups: BTreeMap<String, Pause>,
}

/// Why the paused state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PausedError {
    /// The state file is not one this module wrote.
    #[error("{path}: {reason}; the core will not start with it (a paused group must never be unpaused silently): fix or remove the file (removing it resumes every group)")]
    Corrupt {
        /// The state file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The state file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The state file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What [`PausedGroups::pause`] did.
#[derive(Debug)]
pub struct Paused {
    /// False if the group was paused already.
    pub newly: bool,
    /// Whether the pause is written (and so outlives a restart).
    pub saved: Result<(), PausedError>,
}

/// The paused groups, and where they are kept.
#[derive(Debug, Default)]
pub struct PausedGroups {
    /// `state/paused.json`, or `None` for a core that keeps nothing (benches).
    file: Option<PathBuf>,
    groups: Mutex<BTreeMap<String, Pause>>,
    /// Held while the file is written, so writes happen one at a time and in order.
    writer: Mutex<()>,
    /// When plugins changed each group lately (at most [`MAX_PLUGIN_CHANGES`] kept).
    changes: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl PausedGroups {
    /// Reads the state file (`state/paused.json`); a missing file pauses nothing.
    pub fn load(file: &Path) -> Result<PausedGroups, PausedError> {
        let groups = read(file)?;
        Ok(PausedGroups {
            file: Some(file.to_owned()),
            groups: Mutex::new(groups),
            ..PausedGroups::default()
        })
    }

    /// Whether `group` is paused.
    pub fn is_paused(&self, group: &str) -> bool {
        self.lock().contains_key(group)
    }

    /// The pause of `group`, if it is paused.
    pub fn get(&self, group: &str) -> Option<Pause> {
        self.lock().get(group).cloned()
    }

    /// Every paused group.
    pub fn all(&self) -> BTreeMap<String, Pause> {
        self.lock().clone()
    }

    /// Pauses `group`: in force at once, also when writing fails (then
    /// `saved` says it will not outlive a restart). Pausing a paused group
    /// writes again, so a pause whose first write failed (a full disk) is saved
    /// once the person retries.
    pub fn pause(&self, group: &str, pause: Pause) -> Paused {
        let newly = {
            let mut groups = self.lock();
            !groups.contains_key(group) && groups.insert(group.to_owned(), pause).is_none()
        };
        let _writing = self.writing();
        // The set as it is now, which includes this pause (a resume removes a
        // group only after its own write, under the same writer lock).
        let snapshot = self.lock().clone();
        Paused {
            newly,
            saved: self.write(&snapshot),
        }
    }

    /// Resumes `group`, once that is written; returns its pause (`None` if it
    /// was not paused). A failed write leaves it paused.
    pub fn resume(&self, group: &str) -> Result<Option<Pause>, PausedError> {
        let _writing = self.writing();
        let (pause, mut next) = {
            let groups = self.lock();
            let Some(pause) = groups.get(group).cloned() else {
                return Ok(None);
            };
            (pause, groups.clone())
        };
        next.remove(group);
        // Written first, outside the lock every call's check takes; only then
        // does the resume take effect.
        self.write(&next)?;
        self.lock().remove(group);
        Ok(Some(pause))
    }

    /// Whether a plugin may pause or resume `group` at `now`: at most
    /// [`MAX_PLUGIN_CHANGES`] in a [`CHANGE_WINDOW`]; an allowed change is counted.
    pub fn plugin_change_allowed(&self, group: &str, now: Instant) -> bool {
        let mut changes = self
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        changes.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= CHANGE_WINDOW)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
        let times = changes.entry(group.to_owned()).or_default();
        if times.len() >= MAX_PLUGIN_CHANGES {
            return false;
        }
        times.push_back(now);
        true
    }

    fn writing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pause>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, groups: &BTreeMap<String, Pause>) -> Result<(), PausedError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return Err(PausedError::Write {
                path: path.display().to_string(),
                source: std::io::Error::other("not a file path"),
            });
        };
        let failed = |source| PausedError::Write {
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_vec_pretty(&StateFile {
            version: VERSION,
            groups: groups.clone(),
        })
        .map_err(|e| failed(std::io::Error::other(e)))?;
        create_private_dir(dir).map_err(failed)?;
        write_private_file(dir, name, &text).map_err(failed)?;
        Ok(())
    }
}

/// Reads and checks the state file at `path`.
fn read(path: &Path) -> Result<BTreeMap<String, Pause>, PausedError> {
    let corrupt = |reason: String| PausedError::Corrupt {
        path: path.display().to_string(),
        reason,
    };
    let bytes = match read_private_file(path, MAX_FILE_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(BTreeMap::new()),
        Err(PrivateReadError::Unsafe(why)) => {
            return Err(corrupt(format!("not a private file of the core ({why})")))
        }
        Err(e) => return Err(corrupt(e.to_string())),
    };
    let state: StateFile = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(format!("not a paused-groups file ({e})")))?;
    if state.version != VERSION {
        return Err(corrupt(format!("unknown version {}", state.version)));
    }
    for (group, pause) in &state.groups {
        if !valid_group_name(group) {
            return Err(corrupt("a group name breaks [A-Za-z0-9_-]{1,64}".into()));
        }
        if pause.by.chars().count() > MAX_BY_CHARS || !crate::display::is_safe(&pause.by) {
            return Err(corrupt(format!("the `by` of group `{group}` is not plain text of at most {MAX_BY_CHARS} characters")));
        }
    }
    Ok(state.groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn pause(by: &str) -> Pause {
        Pause {
            by: by.into(),
            plugin: Some("telegram".into()),
            at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_pause_outlives_a_reload_and_a_resume_is_written_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("paused.json");
        let paused = PausedGroups::load(&file).expect("no file: nothing paused");
        assert!(!paused.is_paused("main"));
        let first = paused.pause("main", pause("alice"));
        assert!(first.newly && first.saved.is_ok(), "{first:?}");
        assert!(!paused.pause("main", pause("bob")).newly, "paused already");
        let mode = std::fs::metadata(&file)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = PausedGroups::load(&file).expect("reads back");
        assert_eq!(again.get("main"), Some(pause("alice")));
        assert_eq!(again.resume("main").expect("resumed"), Some(pause("alice")));
        assert_eq!(again.resume("main").expect("not paused"), None);
        assert!(!PausedGroups::load(&file).expect("reads").is_paused("main"));
    }

    #[test]
    fn anything_but_what_it_wrote_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("paused.json");
        let write = |text: &str| {
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        };
        let good = r#"{"version":1,"groups":{"main":{"by":"alice","at":"x"}}}"#;
        write(good);
        assert!(PausedGroups::load(&path).expect("valid").is_paused("main"));
        for bad in [
            "",
            "{",
            "null",
            r#"{"version":2,"groups":{}}"#,
            r#"{"version":1}"#,
            r#"{"version":1,"groups":{"main":{"by":"alice","at":"x","extra":1}}}"#,
            r#"{"version":1,"groups":{"../x":{"by":"alice","at":"x"}}}"#,
            r#"{"version":1,"groups":{"main":{"by":"a\u001bb","at":"x"}}}"#,
            r#"{"version":1,"groups":{},"more":true}"#,
        ] {
            write(bad);
            let err = PausedGroups::load(&path).expect_err(bad).to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
        write(good);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(PausedGroups::load(&path).is_err(), "loose mode");
        std::fs::remove_file(&path).expect("rm");
        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::write(&elsewhere, good).expect("write");
        std::os::unix::fs::symlink(&elsewhere, &path).expect("link");
        assert!(PausedGroups::load(&path).is_err(), "a link");
    }

    #[test]
    fn a_pause_that_cannot_be_written_is_in_force_and_a_resume_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let paused = PausedGroups::load(&state.join("paused.json")).expect("nothing yet");
        // A file where the state directory should be: nothing can be written.
        std::fs::write(&state, b"").expect("block the directory");
        assert!(paused.pause("main", pause("alice")).saved.is_err());
        assert!(paused.is_paused("main"), "in force without being written");
        assert!(paused.resume("main").is_err());
        assert!(paused.is_paused("main"), "a resume not written is not done");
    }

    #[test]
    fn a_plugin_changes_a_group_at_most_ten_times_a_minute_each() {
        let paused = PausedGroups::default();
        let t0 = Instant::now();
        for _ in 0..MAX_PLUGIN_CHANGES {
            assert!(paused.plugin_change_allowed("main", t0));
        }
        assert!(!paused.plugin_change_allowed("main", t0 + Duration::from_secs(59)));
        assert!(paused.plugin_change_allowed("ops", t0), "per group");
        assert!(paused.plugin_change_allowed("main", t0 + CHANGE_WINDOW));
    }
}
