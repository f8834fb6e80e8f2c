//! The ledger's day file: `state/usage/<YYYY-MM-DD>.jsonl` (UTC), one line per
//! settled model answer and per extension, appended, read back at start so a
//! restart neither forgets what was spent today nor lifts a cap.
//!
//! Lines are written whole with one `write` on an `O_APPEND` file (0600, never
//! through a link). Usage lines are not synced (a crash of the core keeps
//! them, a power cut may lose the last few); extensions are. A write that
//! fails (a full disk) is cut back off the file and its lines are kept in
//! memory, written again before the next line (and when the core stops), so
//! a full disk for a while loses nothing once it has room again. A line that
//! does not parse (cut by a crash) is skipped and counted, and the core says
//! so in its log; a file it cannot read safely (a link, another owner, a loose
//! mode) refuses the start instead, since starting from zero would lift every
//! cap. The file is read line by line, so its size never stops a start.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::Date;

use super::budget::Scope;
use super::usage::TokenUsage;
use crate::paths::{open_private_file, PrivateReadError};

/// Longest line read back; a longer one (never written by the core) is skipped.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Most bytes of lines kept in memory while they cannot be written (some
/// 40,000 answers); past it the oldest are dropped, and the log says so.
pub const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

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

/// Where the day files are kept, and the lines not yet written to them.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    /// Lines whose write failed, per day, oldest first.
    pending: Mutex<Vec<(Date, Vec<u8>)>>,
}

impl Journal {
    /// Day files in `dir` (created 0700 when first written to).
    pub fn new(dir: &Path) -> Journal {
        Journal {
            dir: dir.to_owned(),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The file of `day`.
    pub fn file(&self, day: Date) -> PathBuf {
        self.dir.join(format!("{day}.jsonl"))
    }

    /// Every entry recorded on `day` (none when there is no file), and how
    /// many lines were skipped because they did not parse.
    pub fn read(&self, day: Date) -> Result<(Vec<Entry>, usize), JournalError> {
        let mut entries = Vec::new();
        let skipped = self.for_each(day, |entry| entries.push(entry))?;
        Ok((entries, skipped))
    }

    /// Hands every entry recorded on `day` to `visit`, line by line; answers
    /// how many lines were skipped because they did not parse.
    pub fn for_each(&self, day: Date, mut visit: impl FnMut(Entry)) -> Result<usize, JournalError> {
        let path = self.file(day);
        let refused = |reason: String| JournalError {
            path: path.display().to_string(),
            reason,
        };
        let file = match open_private_file(&path) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(0),
            Err(PrivateReadError::Unsafe(why)) => return Err(refused(why)),
            Err(e @ PrivateReadError::TooLarge(_)) => return Err(refused(e.to_string())),
        };
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut skipped = 0;
        loop {
            line.clear();
            let read = (&mut reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| refused(e.to_string()))?;
            if read == 0 {
                break;
            }
            if line.last() != Some(&b'\n') && line.len() > MAX_LINE_BYTES {
                // Over-long: dropped, and the rest of it read past.
                skipped += 1;
                skip_rest_of_line(&mut reader).map_err(|e| refused(e.to_string()))?;
                continue;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Entry>(text) {
                Ok(entry) => visit(entry),
                Err(_) => skipped += 1,
            }
        }
        Ok(skipped)
    }

    /// Appends `entry` to the file of `day`, after any lines of that day an
    /// earlier failure kept back. A usage line (`sync` false) that cannot be
    /// written is kept and written again before the next line; a synced line
    /// (an extension) is written now or not at all, since its caller is told
    /// it failed and must never see it take effect later. Answers the result
    /// for `day` only (an older day's trouble is logged, not reported here).
    pub fn append(&self, day: Date, entry: &Entry, sync: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut pending = match self.pending.lock() {
            Ok(pending) => pending,
            Err(poisoned) => poisoned.into_inner(),
        };
        if sync {
            let _ = self.flush_locked(&mut pending, None);
            return self.write_whole(day, &line, true);
        }
        pending.push((day, line));
        self.flush_locked(&mut pending, Some(day))
    }

    /// Writes the lines kept back by failed writes; answers the first error.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut pending = match self.pending.lock() {
            Ok(pending) => pending,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.flush_locked(&mut pending, None)
    }

    /// How many lines wait to be written.
    pub fn pending_lines(&self) -> usize {
        self.pending.lock().map_or(0, |pending| pending.len())
    }

    /// Writes the kept lines, a batch per day; answers the error of `only`'s
    /// batch (or, with `None`, the first), logging the other days' trouble.
    fn flush_locked(
        &self,
        pending: &mut Vec<(Date, Vec<u8>)>,
        only: Option<Date>,
    ) -> std::io::Result<()> {
        let mut days: Vec<Date> = pending.iter().map(|(day, _)| *day).collect();
        days.sort();
        days.dedup();
        let mut answer = None;
        for day in days {
            let batch: Vec<u8> = pending
                .iter()
                .filter(|(d, _)| *d == day)
                .flat_map(|(_, line)| line.iter().copied())
                .collect();
            match self.write_whole(day, &batch, false) {
                Ok(()) => pending.retain(|(d, _)| *d != day),
                Err(e) if only.is_none_or(|only| only == day) => {
                    answer.get_or_insert(e);
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    file = %self.file(day).display(),
                    "model usage lines of an earlier day not written yet: kept"
                ),
            }
        }
        let mut kept: usize = pending.iter().map(|(_, line)| line.len()).sum();
        let mut dropped = 0;
        while kept > MAX_PENDING_BYTES && !pending.is_empty() {
            kept -= pending.remove(0).1.len();
            dropped += 1;
        }
        if dropped > 0 {
            tracing::error!(
                dropped,
                dir = %self.dir.display(),
                "model usage lines that could not be written were dropped: counted until the core stops, not after"
            );
        }
        answer.map_or(Ok(()), Err)
    }

    /// Appends `lines` to the file of `day` with one write, starting on a
    /// line of its own; a failed write is cut back off (the core is the only
    /// writer, and it writes under one lock).
    fn write_whole(&self, day: Date, lines: &[u8], sync: bool) -> std::io::Result<()> {
        if !self.dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(self.file(day))?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("the day file is not a plain file"));
        }
        let length = meta.len();
        // A line cut by a crash has no newline: the next entry starts on a
        // line of its own instead of being glued to it (and lost).
        let mut last = [0u8; 1];
        let glued = length > 0 && file.read_at(&mut last, length - 1)? == 1 && last[0] != b'\n';
        let mut bytes = Vec::with_capacity(lines.len() + 1);
        if glued {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(lines);
        let written = file
            .write_all(&bytes)
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
        if written.is_err() {
            // Nothing half-written stays: the lines are kept and tried again.
            let _ = file.set_len(length);
        }
        written
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if self.pending_lines() > 0 {
            if let Err(e) = self.flush() {
                tracing::error!(
                    error = %e,
                    dir = %self.dir.display(),
                    "model usage lines could not be written as the core stops: they are lost"
                );
            }
        }
    }
}

/// Reads past the rest of the current line (its `\n` included).
fn skip_rest_of_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(());
            }
            None => {
                let all = available.len();
                reader.consume(all);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A usage line of `tokens` output tokens for session s1 of `main`.
    fn used_tokens(tokens: u64) -> Entry {
        Entry::Use {
            session: "s1".into(),
            scope: Scope::group("main"),
            usage: TokenUsage {
                output_tokens: tokens,
                ..TokenUsage::default()
            },
        }
    }

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
    fn an_entry_after_a_cut_line_is_kept() {
        let dir = tempfile::tempdir().expect("temp");
        let journal = Journal::new(dir.path());
        let used = used_tokens(7);
        journal.append(day(), &used, false).expect("append");
        crate::paths::append_private_line(&journal.file(day()), br#"{"kind":"use","sess"#, false)
            .expect("a cut line");
        journal.append(day(), &used, false).expect("append");
        assert_eq!(
            journal.read(day()).expect("read"),
            (vec![used.clone(), used], 1)
        );
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

    #[test]
    fn a_write_that_fails_keeps_its_lines_for_the_next_one() {
        let dir = tempfile::tempdir().expect("temp");
        let journal = Journal::new(dir.path());
        let used = used_tokens;
        // The day file cannot be opened (a directory stands in its place),
        // as it cannot be written to on a full disk.
        std::fs::create_dir(journal.file(day())).expect("in the way");
        assert!(journal.append(day(), &used(1), false).is_err());
        assert!(journal.append(day(), &used(2), false).is_err());
        assert_eq!(journal.pending_lines(), 2);
        std::fs::remove_dir(journal.file(day())).expect("room again");
        journal.append(day(), &used(3), false).expect("append");
        assert_eq!(journal.pending_lines(), 0);
        assert_eq!(
            journal.read(day()).expect("read"),
            (vec![used(1), used(2), used(3)], 0)
        );
        // Kept lines are written when the journal goes, too.
        std::fs::rename(journal.file(day()), dir.path().join("aside")).expect("aside");
        std::fs::create_dir(journal.file(day())).expect("in the way");
        assert!(journal.append(day(), &used(4), false).is_err());
        std::fs::remove_dir(journal.file(day())).expect("room again");
        drop(journal);
        let journal = Journal::new(dir.path());
        assert_eq!(journal.read(day()).expect("read"), (vec![used(4)], 0));
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_file_has_no_size_limit() {
        let dir = tempfile::tempdir().expect("temp");
        let journal = Journal::new(dir.path());
        let used = used_tokens(5);
        let mut junk = vec![b'x'; MAX_LINE_BYTES * 3];
        junk.push(b'\n');
        crate::paths::append_private_line(&journal.file(day()), &junk, false).expect("junk");
        journal.append(day(), &used, false).expect("append");
        assert_eq!(journal.read(day()).expect("read"), (vec![used], 1));
    }

    #[test]
    fn an_extension_that_failed_is_never_written_later() {
        let dir = tempfile::tempdir().expect("temp");
        let journal = Journal::new(dir.path());
        let extended = Entry::Extend {
            scope: Scope::group("main"),
            tokens: 50,
            by: "owner".into(),
            plugin: None,
            at: "2026-12-03T10:00:00Z".into(),
        };
        std::fs::create_dir(journal.file(day())).expect("in the way");
        assert!(journal.append(day(), &extended, true).is_err());
        assert_eq!(
            journal.pending_lines(),
            0,
            "not kept: its caller was told no"
        );
        std::fs::remove_dir(journal.file(day())).expect("room again");
        journal
            .append(day(), &used_tokens(1), false)
            .expect("append");
        drop(journal);
        let journal = Journal::new(dir.path());
        assert_eq!(
            journal.read(day()).expect("read"),
            (vec![used_tokens(1)], 0)
        );
    }

    #[test]
    fn an_older_days_trouble_does_not_fail_todays_line() {
        let dir = tempfile::tempdir().expect("temp");
        let journal = Journal::new(dir.path());
        let yesterday = day().previous_day().unwrap_or(Date::MIN);
        std::fs::create_dir(journal.file(yesterday)).expect("in the way");
        assert!(journal.append(yesterday, &used_tokens(1), false).is_err());
        journal
            .append(day(), &used_tokens(2), false)
            .expect("today's is written");
        assert_eq!(journal.pending_lines(), 1, "yesterday's is still kept");
        assert_eq!(
            journal.read(day()).expect("read"),
            (vec![used_tokens(2)], 0)
        );
    }
}
