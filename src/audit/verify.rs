//! Chain verification: walks every log file in seq order and reports the first
//! place where the MAC chain breaks.
//!
//! This file only reads. It must never create a missing key (a verifier with a
//! fresh key would report everything as forged), never stop at a break
//! without naming the file and line, and never print event values.

use std::path::{Path, PathBuf};

use super::format::{check_line, Keyed, Parsed, GENESIS};
use super::key::load_key;
use super::read::{for_each_line, rotated_files};
use super::{AuditError, CHECKPOINT_KIND, CURRENT_FILE};

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Log files examined.
    pub files: usize,
    /// Lines that verified before the first break (all lines if none).
    pub lines: u64,
    /// The first break in the chain, if any.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// True when the whole chain verified.
    pub fn ok(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where and why the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The file holding the bad line.
    pub file: PathBuf,
    /// 1-based line number in that file.
    pub line: u64,
    /// The line's seq, if it could be read.
    pub seq: Option<u64>,
    /// What is wrong, e.g. "MAC mismatch", "seq jumps from 7 to 9".
    pub reason: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

struct Walk<'k> {
    key: &'k Keyed,
    prev: [u8; 32],
    last_seq: Option<u64>,
    lines: u64,
    /// Seq and `prev` of the first line, when it is not the genesis line.
    start: Option<(u64, [u8; 32])>,
    /// The first line is the genesis line, or a checkpoint vouches for the lines before it.
    anchored: bool,
}

impl Walk<'_> {
    /// Checks one line; `Err((seq, reason))` on a break.
    fn step(
        &mut self,
        line: &[u8],
        file_seq: Option<u64>,
        first_in_file: bool,
    ) -> Result<(), (Option<u64>, String)> {
        let parsed = check_line(self.key, line).map_err(|r| (None, r))?;
        let seq = parsed.entry.seq;
        let fail = |reason: String| Err((Some(seq), reason));
        if self.last_seq.is_none() {
            // The very first line: genesis, or where retention cut (a checkpoint must say so).
            if parsed.prev == GENESIS {
                self.anchored = true;
            } else {
                self.start = Some((seq, parsed.prev));
                self.prev = parsed.prev;
            }
        }
        if parsed.prev != self.prev {
            return fail("prev does not match previous line's mac".into());
        }
        if let Some(last) = self.last_seq {
            if last.checked_add(1) != Some(seq) {
                return fail(format!("seq jumps from {last} to {seq}"));
            }
        }
        if let (true, Some(named)) = (first_in_file, file_seq) {
            if named != seq {
                return fail(format!(
                    "file name says first seq {named} but the line has seq {seq}"
                ));
            }
        }
        self.checkpoint(&parsed).or_else(fail)?;
        self.prev = parsed.mac;
        self.last_seq = Some(seq);
        self.lines += 1;
        Ok(())
    }

    /// A verified `audit.checkpoint` line anchors a chain that starts at or
    /// before its `first_kept_seq`: everything before that was removed by retention.
    fn checkpoint(&mut self, parsed: &Parsed) -> Result<(), String> {
        let event = &parsed.entry.event;
        if event.get("kind").and_then(|k| k.as_str()) != Some(CHECKPOINT_KIND) {
            return Ok(());
        }
        let first_kept = event.get("first_kept_seq").and_then(|v| v.as_u64());
        let mac = event
            .get("last_removed_mac")
            .and_then(|v| v.as_str())
            .and_then(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).ok().map(|()| out)
            });
        let (Some(first_kept), Some(mac)) = (first_kept, mac) else {
            return Err("checkpoint lacks first_kept_seq or last_removed_mac".into());
        };
        if first_kept > parsed.entry.seq {
            return Err("checkpoint vouches for lines after itself".into());
        }
        if let Some((start, start_prev)) = self.start {
            if first_kept == start && mac != start_prev {
                return Err("checkpoint's last_removed_mac is not the first line's prev".into());
            }
            if first_kept >= start {
                self.anchored = true;
            }
        }
        Ok(())
    }
}

/// Verifies the whole log in `log_dir` with the key at `key_path` (which must
/// already exist): rotated files in seq order, then `audit.jsonl`. Checks each
/// line's MAC, that `prev` is the previous line's `mac`, that `seq` increases
/// by one, and that no file ends mid-line. The first line's `prev` is 64 zeros,
/// or a later `audit.checkpoint` line (MAC'd and chained like any other) names
/// a `first_kept_seq` at or after it: retention removed what came before.
pub fn verify(log_dir: &Path, key_path: &Path) -> Result<VerifyReport, AuditError> {
    let key = load_key(key_path, false)?;
    let mut files: Vec<(Option<u64>, PathBuf)> = rotated_files(log_dir)?
        .into_iter()
        .map(|(seq, path)| (Some(seq), path))
        .collect();
    let current = log_dir.join(CURRENT_FILE);
    if current.exists() {
        files.push((None, current));
    }
    let mut walk = Walk {
        key: &key,
        prev: GENESIS,
        last_seq: None,
        lines: 0,
        start: None,
        anchored: false,
    };
    let mut first_break = None;
    for (file_seq, path) in &files {
        let mut found: Option<ChainBreak> = None;
        let partial = for_each_line(path, |number, line| {
            if found.is_none() {
                if let Err((seq, reason)) = walk.step(line, *file_seq, number == 1) {
                    found = Some(ChainBreak {
                        file: path.clone(),
                        line: number,
                        seq,
                        reason,
                    });
                }
            }
            Ok(())
        })?;
        if found.is_none() {
            if let Some(number) = partial {
                found = Some(ChainBreak {
                    file: path.clone(),
                    line: number,
                    seq: None,
                    reason: "last line has no newline (torn write; the writer truncates it when it next opens the log)".into(),
                });
            }
        }
        if found.is_some() {
            first_break = found;
            break;
        }
    }
    let mut lines = walk.lines;
    if let (None, Some((seq, _)), false) = (&first_break, walk.start, walk.anchored) {
        if let Some((_, path)) = files.first() {
            first_break = Some(ChainBreak {
                file: path.clone(),
                line: 1,
                seq: Some(seq),
                reason: "first line's prev is not all zeros and no audit.checkpoint vouches \
                         for the lines before it (earlier lines missing?)"
                    .into(),
            });
            lines = 0;
        }
    }
    Ok(VerifyReport {
        files: files.len(),
        lines,
        first_break,
    })
}
