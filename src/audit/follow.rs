//! `audit tail --follow`: a poll-based reader that yields entries as
//! `audit.jsonl` grows and carries on across rotation.
//!
//! This file only reads. It must never return a line before its newline has
//! been written, never return an entry twice, and never skip a bad line
//! silently.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::format::{leading_seq, parse_line};
use super::read::{for_each_line, last_lines, rotated_files, tail};
use super::{AuditEntry, AuditError, CURRENT_FILE};

/// Yields new audit entries as they are written. Call [`poll`](Self::poll)
/// in a loop with a short sleep between calls.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    path: PathBuf,
    file: Option<File>,
    id: Option<(u64, u64)>,
    pos: u64,
    /// Lines read from the current file; `None` if started mid-file.
    line_no: Option<u64>,
    partial: Vec<u8>,
    last_seq: Option<u64>,
    /// `after_seq` has not read anything yet.
    pending_start: bool,
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl Follower {
    /// Starts following at the current end of the log: only entries written
    /// after this call are returned.
    pub fn new(log_dir: &Path) -> Result<Follower, AuditError> {
        let mut f = Follower::blank(log_dir);
        if let Some(file) = f.open_current()? {
            let len = file
                .metadata()
                .map_err(|e| AuditError::io("stat", &f.path, e))?
                .len();
            let tail = last_lines(&file, len, 1).map_err(|e| AuditError::io("read", &f.path, e))?;
            f.pos = tail.complete_end;
            f.line_no = None;
            if let Some(line) = tail.lines.last() {
                let parsed = parse_line(line).map_err(|reason| AuditError::Corrupt {
                    path: f.path.clone(),
                    at: "last line".into(),
                    reason,
                })?;
                f.last_seq = Some(parsed.entry.seq);
            }
            f.file = Some(file);
        }
        if f.last_seq.is_none() {
            f.last_seq = Some(tail(log_dir, 1)?.last().map_or(0, |e| e.seq));
        }
        Ok(f)
    }

    /// Returns only entries with a seq above `after_seq` (e.g. the last one
    /// printed by [`super::tail`]), reading rotated files as needed.
    pub fn after_seq(log_dir: &Path, after_seq: u64) -> Result<Follower, AuditError> {
        let mut f = Follower::blank(log_dir);
        f.last_seq = Some(after_seq);
        f.pending_start = true;
        Ok(f)
    }

    fn blank(log_dir: &Path) -> Follower {
        Follower {
            dir: log_dir.to_path_buf(),
            path: log_dir.join(CURRENT_FILE),
            file: None,
            id: None,
            pos: 0,
            line_no: Some(0),
            partial: Vec::new(),
            last_seq: None,
            pending_start: false,
        }
    }

    /// After a rotation (or at the start of [`after_seq`](Self::after_seq)):
    /// reads the rotated files that may hold entries past `last_seq`, then
    /// switches to the new `audit.jsonl`.
    fn catch_up(&mut self, out: &mut Vec<AuditEntry>, from_start: bool) -> Result<(), AuditError> {
        for _ in 0..16 {
            let after = self.last_seq.unwrap_or(0);
            let files = rotated_files(&self.dir)?;
            // At the start, the file holding `after + 1` may begin at or
            // before `after`; after draining a file, everything up to `after`
            // is already read.
            let skip = if from_start {
                files
                    .iter()
                    .rposition(|(first, _)| *first <= after)
                    .unwrap_or(0)
            } else {
                files
                    .iter()
                    .position(|(first, _)| *first > after)
                    .unwrap_or(files.len())
            };
            for (_, path) in &files[skip..] {
                let partial = for_each_line(path, |number, line| {
                    let entry = parse_line(line)
                        .map_err(|reason| AuditError::Corrupt {
                            path: path.clone(),
                            at: format!("line {number}"),
                            reason,
                        })?
                        .entry;
                    self.push(out, entry);
                    Ok(())
                })?;
                if let Some(number) = partial {
                    return Err(AuditError::Corrupt {
                        path: path.clone(),
                        at: format!("line {number}"),
                        reason: "no newline".into(),
                    });
                }
            }
            self.file = self.open_current()?;
            let mut head = [0u8; 32];
            let n = match &self.file {
                Some(file) => file
                    .read_at(&mut head, 0)
                    .map_err(|e| AuditError::io("read", &self.path, e))?,
                None => 0,
            };
            // A rotation raced us if the new file starts past what we have.
            match leading_seq(&head[..n]) {
                Some(first) if first > self.last_seq.unwrap_or(0) + 1 => continue,
                _ => return self.drain(out),
            }
        }
        Err(AuditError::Writer {
            dir: self.dir.clone(),
            reason: "the log rotates too fast to follow".into(),
        })
    }

    fn push(&mut self, out: &mut Vec<AuditEntry>, entry: AuditEntry) {
        if self.last_seq.is_some_and(|s| entry.seq <= s) {
            return;
        }
        self.last_seq = Some(entry.seq);
        out.push(entry);
    }

    fn open_current(&mut self) -> Result<Option<File>, AuditError> {
        match File::open(&self.path) {
            Ok(file) => {
                let meta = file
                    .metadata()
                    .map_err(|e| AuditError::io("stat", &self.path, e))?;
                self.id = Some(file_id(&meta));
                self.pos = 0;
                self.line_no = Some(0);
                self.partial.clear();
                Ok(Some(file))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuditError::io("open", &self.path, e)),
        }
    }

    /// Returns the complete entries written since the last call (possibly
    /// none). Never blocks.
    pub fn poll(&mut self) -> Result<Vec<AuditEntry>, AuditError> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.pending_start) {
            self.catch_up(&mut out, true)?;
            return Ok(out);
        }
        // Look at the path first: once it names a new file, the old one
        // (still open here) is complete, so draining it loses nothing.
        let now = std::fs::metadata(&self.path).ok().map(|m| file_id(&m));
        self.drain(&mut out)?;
        if now.is_some() && now != self.id {
            self.catch_up(&mut out, false)?;
        }
        Ok(out)
    }

    fn drain(&mut self, out: &mut Vec<AuditEntry>) -> Result<(), AuditError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let path = &self.path;
        let len = file
            .metadata()
            .map_err(|e| AuditError::io("stat", path, e))?
            .len();
        if !self.partial.is_empty() {
            // A crash-restart of the writer truncates a torn line and writes
            // over it: re-read from that line's start if its bytes changed.
            let start = self.pos - self.partial.len() as u64;
            let mut now = vec![0u8; self.partial.len()];
            let same = len >= self.pos
                && file.read_exact_at(&mut now, start).is_ok()
                && now == self.partial;
            if !same {
                self.pos = start;
                self.partial.clear();
            }
        }
        if len < self.pos {
            self.pos = len;
        }
        if len == self.pos {
            return Ok(());
        }
        file.seek(SeekFrom::Start(self.pos))
            .map_err(|e| AuditError::io("seek", path, e))?;
        let mut chunk = Vec::new();
        file.take(len - self.pos)
            .read_to_end(&mut chunk)
            .map_err(|e| AuditError::io("read", path, e))?;
        self.pos += chunk.len() as u64;
        self.partial.extend_from_slice(&chunk);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        let mut entries = Vec::new();
        for line in complete[..end].split(|b| *b == b'\n') {
            self.line_no = self.line_no.map(|n| n + 1);
            let entry = parse_line(line)
                .map_err(|reason| AuditError::Corrupt {
                    path: path.clone(),
                    at: match self.line_no {
                        Some(n) => format!("line {n}"),
                        None => "a newly written line".into(),
                    },
                    reason,
                })?
                .entry;
            entries.push(entry);
        }
        for entry in entries {
            self.push(out, entry);
        }
        Ok(())
    }
}
