//! The ledger's day file: `state/usage/<YYYY-MM-DD>.jsonl` (UTC), one line per
//! settled model answer and per extension, appended, read back at start so a
//! restart neither forgets what was spent today nor lifts a cap.
//!
//! Lines are written whole with one `write` on an `O_APPEND` file (0600, never
//! through a link). Usage lines are not synced (a crash of the core keeps
//! them, a power cut may lose the last few); extensions are. A line that does
//! not parse (cut by a crash or a full disk) is skipped and counted, and the
//! core says so in its log; a file it cannot read safely (a link, another
//! owner, a loose mode, too large) refuses the start instead, since starting
//! from zero would lift every cap.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::Date;

use super::budget::Scope;
use super::usage::TokenUsage;
use crate::paths::{append_private_line, read_private_file, PrivateReadError};

/// Largest day file read back (some 300,000 answers).
pub const MAX_DAY_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One line of a day file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Entry {
    /// A settled answer.
    Use {
        /// The session.
        session: String,
        /// The group (and task) charged.
        #[serde(flatten)]
        scope: Scope,
        /// What the provider reported (or what was held, for a cut answer).
        usage: TokenUsage,
    },
    /// More tokens allowed today.
    Extend {
        /// The group, or the task, whose cap was raised.
        #[serde(flatten)]
        scope: Scope,
        /// How many.
        tokens: u64,
        /// Who allowed it, as the plugin or the host named them.
        by: String,
        /// The plugin that asked, or none at the host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin: Option<String>,
        /// When (RFC 3339).
        at: String,
    },
}

/// Why a day file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}; the core will not start with it (a spent budget would be lifted): fix its owner and mode (0600)")]
pub struct JournalError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Where the day files are kept.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// Day files in `dir` (created 0700 when first written to).
    pub fn new(dir: &Path) -> Journal {
        Journal {
            dir: dir.to_owned(),
        }
    }

    /// The file of `day`.
    pub fn file(&self, day: Date) -> PathBuf {
        self.dir.join(format!("{day}.jsonl"))
    }

    /// Every entry recorded on `day` (none when there is no file), and how
    /// many lines were skipped because they did not parse.
    pub fn read(&self, day: Date) -> Result<(Vec<Entry>, usize), JournalError> {
        let path = self.file(day);
        let refused = |reason: String| JournalError {
            path: path.display().to_string(),
            reason,
        };
        let bytes = match read_private_file(&path, MAX_DAY_FILE_BYTES) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(PrivateReadError::TooLarge(max)) => {
                return Err(refused(format!("over {max} bytes")))
            }
            Err(PrivateReadError::Unsafe(why)) => return Err(refused(why)),
        };
        let mut entries = Vec::new();
        let mut skipped = 0;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Entry>(line) {
                Ok(entry) => entries.push(entry),
                Err(_) => skipped += 1,
            }
        }
        Ok((entries, skipped))
    }

    /// Appends `entry` to the file of `day`; `sync` waits for the disk.
    pub fn append(&self, day: Date, entry: &Entry, sync: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if !self.dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
        }
        append_private_line(&self.file(day), &line, sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn day() -> Date {
        Date::from_calendar_date(2026, time::Month::December, 3).unwrap_or(Date::MIN)
    }

    #[test]
    fn entries_round_trip_and_a_cut_last_line_is_dropped() {
        let dir = tempfile::tempdir().expect("temp");
        let journal = Journal::new(&dir.path().join("usage"));
        let used = Entry::Use {
            session: "s1".into(),
            scope: Scope::task("main", "digest"),
            usage: TokenUsage {
                input_tokens: 3,
                output_tokens: 4,
                ..TokenUsage::default()
            },
        };
        let extended = Entry::Extend {
            scope: Scope::group("main"),
            tokens: 100,
            by: "owner".into(),
            plugin: None,
            at: "2026-12-03T10:00:00Z".into(),
        };
        journal.append(day(), &used, false).expect("append");
        journal.append(day(), &extended, true).expect("append");
        let file = journal.file(day());
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut text = std::fs::read(&file).expect("read");
        text.extend_from_slice(br#"{"kind":"use","sess"#);
        std::fs::write(&file, &text).expect("write");
        assert_eq!(
            journal.read(day()).expect("read"),
            (vec![used, extended], 1)
        );
        assert!(journal.read(Date::MIN).expect("absent").0.is_empty());
    }

    #[test]
    fn a_file_others_may_write_refuses_the_start() {
        let dir = tempfile::tempdir().expect("temp");
        let journal = Journal::new(dir.path());
        std::fs::write(journal.file(day()), "{}\n").expect("write");
        std::fs::set_permissions(journal.file(day()), std::fs::Permissions::from_mode(0o666))
            .expect("chmod");
        let error = journal.read(day()).expect_err("refused").to_string();
        assert!(error.contains("will not start"), "{error}");
    }
}
