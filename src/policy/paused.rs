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
//! own, and every change is made under it. A plugin's resumes of a group are
//! limited to [`MAX_PLUGIN_CHANGES`] a [`CHANGE_WINDOW`] (`plugin_change_allowed`),
//! so alternating pause and resume cannot flood the audit log or keep sweeping a
//! group; a pause is never limited (the kill switch must always work).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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
/// Resumes of one group plugins may make per [`CHANGE_WINDOW`] (pauses are never limited).
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
    /// The paused set's generation after this pause (see [`PausedGroups::state`]).
    pub generation: u64,
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
    /// Counts the changes of the paused set since the core started; bumped only
    /// while `groups` is locked, in the same step as the change it counts.
    generation: AtomicU64,
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

    /// Whether `group` is paused, and the paused set's generation then: it
    /// grows by one with every pause or resume that changes the set (in the
    /// same step), so of two answers about a group the one with the higher
    /// generation is the newer, whatever order they arrive in.
    pub fn state(&self, group: &str) -> (bool, u64) {
        let groups = self.lock();
        (
            groups.contains_key(group),
            self.generation.load(Ordering::SeqCst),
        )
    }

    /// Every paused group's name, and the generation of that set.
    pub fn snapshot(&self) -> (Vec<String>, u64) {
        let groups = self.lock();
        (
            groups.keys().cloned().collect(),
            self.generation.load(Ordering::SeqCst),
        )
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
        // Every change is made under the writer lock (a pause waits for a
        // resume's write, so it can never be undone by it); readers of the set
        // only ever wait for the short in-memory step.
        let _writing = self.writing();
        let snapshot = {
            let mut groups = self.lock();
            let newly = match groups.get(group) {
                None => true,
                // A pause made at the host replaces a plugin's: it is lifted
                // only at the host.
                Some(held) if held.plugin.is_some() && pause.plugin.is_none() => false,
                Some(_) => {
                    let snapshot = groups.clone();
                    let generation = self.generation.load(Ordering::SeqCst);
                    drop(groups);
                    return Paused {
                        newly: false,
                        saved: self.write(&snapshot),
                        generation,
                    };
                }
            };
            groups.insert(group.to_owned(), pause);
            let generation = if newly {
                self.generation.fetch_add(1, Ordering::SeqCst) + 1
            } else {
                self.generation.load(Ordering::SeqCst)
            };
            (newly, groups.clone(), generation)
        };
        Paused {
            newly: snapshot.0,
            saved: self.write(&snapshot.1),
            generation: snapshot.2,
        }
    }

    /// Resumes `group`, once that is written; returns its pause (`None` if it
    /// was not paused). A failed write leaves it paused.
    pub fn resume(&self, group: &str) -> Result<Option<Pause>, PausedError> {
        Ok(self.resume_counted(group)?.map(|(pause, _)| pause))
    }

    /// [`PausedGroups::resume`], with the paused set's generation after it.
    pub fn resume_counted(&self, group: &str) -> Result<Option<(Pause, u64)>, PausedError> {
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
        let mut groups = self.lock();
        groups.remove(group);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Some((pause, generation)))
    }

    /// Whether a plugin may resume `group` at `now`: at most
    /// [`MAX_PLUGIN_CHANGES`] in a [`CHANGE_WINDOW`]; an allowed one is counted.
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

    fn pause_by(plugin: Option<&str>) -> Pause {
        Pause {
            by: "someone".into(),
            plugin: plugin.map(str::to_owned),
            at: "2026-12-03T10:00:00Z".into(),
        }
    }

    #[test]
    fn a_host_pause_replaces_a_plugins_and_a_plugin_pause_never_a_hosts() {
        let dir = tempfile::tempdir().expect("temp");
        let file = dir.path().join("state/paused.json");
        let paused = PausedGroups::load(&file).expect("load");
        assert!(paused.pause("main", pause_by(Some("telegram"))).newly);
        assert!(!paused.pause("main", pause_by(None)).newly);
        assert_eq!(
            paused.get("main").and_then(|p| p.plugin),
            None,
            "the host's now"
        );
        let _ = paused.pause("main", pause_by(Some("telegram")));
        assert_eq!(
            paused.get("main").and_then(|p| p.plugin),
            None,
            "still the host's"
        );
        let reread = PausedGroups::load(&file).expect("reload");
        assert_eq!(reread.get("main").and_then(|p| p.plugin), None, "written");
    }

    #[test]
    fn a_pause_during_a_resume_is_never_undone_by_it() {
        let dir = tempfile::tempdir().expect("temp");
        let file = dir.path().join("state/paused.json");
        let paused = std::sync::Arc::new(PausedGroups::load(&file).expect("load"));
        for _ in 0..200 {
            let _ = paused.pause("main", pause_by(None));
            let resumer = {
                let paused = std::sync::Arc::clone(&paused);
                std::thread::spawn(move || paused.resume("main"))
            };
            let _ = paused.pause("main", pause_by(None));
            let _ = resumer.join();
            // Whichever came last decides, and memory and file agree.
            let reread = PausedGroups::load(&file).expect("reload");
            assert_eq!(paused.is_paused("main"), reread.is_paused("main"));
        }
    }

    #[test]
    fn every_change_of_the_set_has_a_higher_generation() {
        let paused = PausedGroups::default();
        assert_eq!(paused.state("main"), (false, 0));
        let first = paused.pause("main", pause("alice"));
        assert_eq!(first.generation, 1);
        assert_eq!(paused.state("main"), (true, 1));
        // Pausing a paused group changes nothing: the same generation.
        assert_eq!(paused.pause("main", pause("bob")).generation, 1);
        let (_, resumed) = paused
            .resume_counted("main")
            .expect("written")
            .expect("was paused");
        assert_eq!(resumed, 2);
        assert_eq!(paused.state("main"), (false, 2));
        assert_eq!(paused.resume_counted("main").expect("written"), None);
        assert_eq!(paused.pause("other", pause("carol")).generation, 3);
        assert_eq!(paused.snapshot(), (vec!["other".to_owned()], 3));
    }
}
