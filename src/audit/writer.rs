//! The synchronous audit writer: appends chained lines to `audit.jsonl`,
//! rotates it, and recovers the chain (and a torn tail) when reopened.
//!
//! This file is the only code that writes log files. It must never rewrite a
//! complete line (the only truncation is of a torn, newline-less tail at open
//! or of its own failed partial write), never continue a chain whose last
//! line fails its MAC, and never log event values.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::event::EventLine;
use super::format::{check_line, encode_line, leading_seq, Keyed, Stamp, GENESIS};
use super::key::load_key;
use super::read::{first_line, last_lines, rotated_files, rotated_name};
use super::{AuditError, CHECKPOINT_KIND, CURRENT_FILE};

/// Buffered bytes at which `append` writes the buffer out on its own.
const FLUSH_AT: usize = 256 * 1024;

/// How much of the log is kept: rotated files are removed, oldest first, while
/// all files together are over `max_bytes` or the oldest is over `max_age`.
/// `audit.jsonl` itself is never removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Bytes of all log files together.
    pub max_bytes: u64,
    /// Time since a rotated file's last write after which it is removed.
    pub max_age: Duration,
}

/// Appends events to the audit log. Synchronous and single-owner: wrap it in
/// [`super::AuditLog`] to keep disk I/O off the request path.
pub struct AuditWriter {
    dir: PathBuf,
    current: PathBuf,
    key: Keyed,
    rotate_bytes: u64,
    file: Option<File>,
    /// Bytes of complete lines known to be in the current file.
    file_len: u64,
    /// Seq of the first line of the current file (names it on rotation).
    file_first_seq: Option<u64>,
    /// A write failed part-way: truncate to `file_len` before writing again.
    dirty: bool,
    buf: Vec<u8>,
    line: Vec<u8>,
    next_seq: u64,
    prev: [u8; 32],
    sync: bool,
    retention: Option<Retention>,
    /// Retention is running: a rotation its checkpoint causes does not start it again.
    retaining: bool,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("dir", &self.dir)
            .field("next_seq", &self.next_seq)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

fn open_current(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AuditError::io("open", path, e))
}

fn has_lines(dir: &Path, current: &Path) -> Result<bool, AuditError> {
    let current_len = std::fs::metadata(current).map_or(0, |m| m.len());
    Ok(current_len > 0 || !rotated_files(dir)?.is_empty())
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io("sync directory", dir, e))
}

impl AuditWriter {
    /// Opens (creating if needed) the log in `log_dir` with the key at
    /// `key_path` (created 0600 if missing), recovering the chain from the
    /// tail of the newest file. A torn last line is truncated and an
    /// `audit.torn_tail_truncated` event is appended; a last line that fails
    /// its MAC is an error. `audit.jsonl` is rotated before it would exceed
    /// `rotate_bytes`.
    pub fn open(log_dir: &Path, key_path: &Path, rotate_bytes: u64) -> Result<Self, AuditError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(log_dir)
            .map_err(|e| AuditError::io("create log directory", log_dir, e))?;
        if let Ok(meta) = std::fs::metadata(log_dir) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(dir = %log_dir.display(), "audit log directory is accessible to group/others; run `chmod 700` on it");
            }
        }
        let current = log_dir.join(CURRENT_FILE);
        if std::fs::symlink_metadata(key_path).is_err() && has_lines(log_dir, &current)? {
            // A fresh key would make every existing line look forged.
            return Err(AuditError::KeyInvalid {
                path: key_path.to_path_buf(),
                reason: format!(
                    "it is missing but {} already holds audit lines; restore the key, \
                     or move the old log aside to start a new chain",
                    log_dir.display()
                ),
            });
        }
        let key = load_key(key_path, true)?;
        let file = open_current(&current)?;
        let len = file
            .metadata()
            .map_err(|e| AuditError::io("stat", &current, e))?
            .len();
        let tail = last_lines(&file, len, 1).map_err(|e| AuditError::io("read", &current, e))?;
        let torn = len - tail.complete_end;
        if torn > 0 {
            file.set_len(tail.complete_end)
                .and_then(|()| file.sync_all())
                .map_err(|e| AuditError::io("truncate torn tail of", &current, e))?;
            tracing::warn!(file = %current.display(), bytes = torn, "truncated a torn audit line");
        }
        let corrupt = |path: &Path, at: &str, reason: String| AuditError::Corrupt {
            path: path.to_path_buf(),
            at: at.into(),
            reason,
        };
        let (next_seq, prev, file_first_seq) = if let Some(last) = tail.lines.last() {
            let parsed = check_line(&key, last).map_err(|r| corrupt(&current, "last line", r))?;
            let mut head = [0u8; 32];
            let n = file
                .read_at(&mut head, 0)
                .map_err(|e| AuditError::io("read", &current, e))?;
            let first = leading_seq(&head[..n])
                .ok_or_else(|| corrupt(&current, "line 1", "no leading seq".into()))?;
            (parsed.entry.seq + 1, parsed.mac, Some(first))
        } else if let Some((_, path)) = rotated_files(log_dir)?.pop() {
            // Crash between rotating and writing the new file's first line.
            let f = File::open(&path).map_err(|e| AuditError::io("open", &path, e))?;
            let flen = f
                .metadata()
                .map_err(|e| AuditError::io("stat", &path, e))?
                .len();
            let t = last_lines(&f, flen, 1).map_err(|e| AuditError::io("read", &path, e))?;
            let last = t
                .lines
                .last()
                .ok_or_else(|| corrupt(&path, "end", "rotated file has no complete line".into()))?;
            let parsed = check_line(&key, last).map_err(|r| corrupt(&path, "last line", r))?;
            (parsed.entry.seq + 1, parsed.mac, None)
        } else {
            (1, GENESIS, None)
        };
        let mut writer = AuditWriter {
            dir: log_dir.to_path_buf(),
            current,
            key,
            rotate_bytes,
            file: Some(file),
            file_len: tail.complete_end,
            file_first_seq,
            dirty: false,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            line: Vec::with_capacity(1024),
            next_seq,
            prev,
            sync: false,
            retention: None,
            retaining: false,
        };
        if torn > 0 {
            let mut event = serde_json::Map::new();
            event.insert("kind".into(), "audit.torn_tail_truncated".into());
            event.insert("bytes".into(), torn.into());
            writer.append(&event)?;
            let sync = std::mem::replace(&mut writer.sync, true);
            writer.flush()?;
            writer.sync = sync;
        }
        Ok(writer)
    }

    /// Makes every later [`flush`](Self::flush) also `fdatasync` the file.
    /// Off by default: a flush then survives a process crash but not a power
    /// loss.
    pub fn set_sync(&mut self, sync: bool) {
        self.sync = sync;
    }

    /// Keeps the log within `retention` from now on, applying it at once: old
    /// rotated files are removed after an `audit.checkpoint` line that vouches
    /// for their removal is written and synced (see [`super::verify`]).
    pub fn set_retention(&mut self, retention: Retention) -> Result<(), AuditError> {
        self.retention = Some(retention);
        self.enforce_retention()
    }

    /// Bytes appended but not yet written to the file.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The seq the next appended event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The log directory this writer owns.
    pub fn log_dir(&self) -> &Path {
        &self.dir
    }

    /// Adds `event` to the buffer as the next line, stamped now, and returns its
    /// seq. On error the event was not recorded and the seq is not used.
    pub fn append(
        &mut self,
        event: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<u64, AuditError> {
        self.append_json(
            Stamp::now().as_bytes(),
            EventLine::from_map(event).as_bytes(),
        )
    }

    /// Adds an event already encoded by [`EventLine`] and stamped `ts` (a
    /// `Stamp`'s bytes) as the next line and returns its seq.
    pub(crate) fn append_json(&mut self, ts: &[u8], event: &[u8]) -> Result<u64, AuditError> {
        let mut mac = self.encode(ts, event);
        let pending = self.file_len + self.buf.len() as u64;
        if pending > 0 && pending + self.line.len() as u64 > self.rotate_bytes {
            let seq = self.next_seq;
            self.rotate()?;
            if self.next_seq != seq {
                // Retention wrote a checkpoint: the line takes the next seq after it.
                mac = self.encode(ts, event);
            }
        } else if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(self.push_line(mac))
    }

    /// Encodes the next line into `line` and returns its MAC.
    fn encode(&mut self, ts: &[u8], event: &[u8]) -> [u8; 32] {
        self.line.clear();
        encode_line(
            &self.key,
            &mut self.line,
            self.next_seq,
            &self.prev,
            ts,
            event,
        )
    }

    /// Moves the encoded `line` (whose MAC is `mac`) into the buffer; returns its seq.
    fn push_line(&mut self, mac: [u8; 32]) -> u64 {
        if self.file_first_seq.is_none() {
            self.file_first_seq = Some(self.next_seq);
        }
        self.buf.extend_from_slice(&self.line);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.prev = mac;
        seq
    }

    /// Writes the buffer to `audit.jsonl` with write(2) (and `fdatasync`s it
    /// if [`set_sync`](Self::set_sync) is on). On error the buffer is kept
    /// and the next flush retries after cutting off any partial write.
    pub fn flush(&mut self) -> Result<(), AuditError> {
        if self.buf.is_empty() && !self.dirty {
            return Ok(());
        }
        if self.file.is_none() {
            let file = open_current(&self.current)?;
            self.file_len = file
                .metadata()
                .map_err(|e| AuditError::io("stat", &self.current, e))?
                .len();
            self.file = Some(file);
        }
        let Some(file) = self.file.as_ref() else {
            return Err(AuditError::Writer {
                dir: self.dir.clone(),
                reason: "no current file".into(),
            });
        };
        let path = &self.current;
        if self.dirty {
            file.set_len(self.file_len)
                .map_err(|e| AuditError::io("truncate partial write in", path, e))?;
            self.dirty = false;
        }
        if let Err(e) = (&mut &*file).write_all(&self.buf) {
            self.dirty = true;
            return Err(AuditError::io("write", path, e));
        }
        self.file_len += self.buf.len() as u64;
        self.buf.clear();
        if self.sync {
            file.sync_data()
                .map_err(|e| AuditError::io("fsync", path, e))?;
        }
        Ok(())
    }

    /// Flushes, then renames `audit.jsonl` to `audit-<first seq>.jsonl`; the
    /// next flush creates a fresh `audit.jsonl`.
    fn rotate(&mut self) -> Result<(), AuditError> {
        self.flush()?;
        let Some(first) = self.file_first_seq else {
            return Ok(());
        };
        if let Some(file) = &self.file {
            file.sync_all()
                .map_err(|e| AuditError::io("fsync", &self.current, e))?;
        }
        let target = self.dir.join(rotated_name(first));
        if target.exists() {
            return Err(AuditError::Writer {
                dir: self.dir.clone(),
                reason: format!("refusing to overwrite {}", target.display()),
            });
        }
        std::fs::rename(&self.current, &target)
            .map_err(|e| AuditError::io("rotate", &self.current, e))?;
        self.file = None;
        self.file_len = 0;
        self.file_first_seq = None;
        sync_dir(&self.dir)?;
        if self.retaining {
            return Ok(());
        }
        if let Err(e) = self.enforce_retention() {
            // The rotation itself worked; the old files stay until the next one.
            tracing::error!(error = %e, "audit retention failed");
        }
        Ok(())
    }

    /// Removes the rotated files retention no longer keeps, oldest first, after
    /// writing and syncing a checkpoint line naming the first line kept and the
    /// MAC of the last line removed.
    fn enforce_retention(&mut self) -> Result<(), AuditError> {
        let Some(retention) = self.retention else {
            return Ok(());
        };
        self.flush()?;
        let rotated = rotated_files(&self.dir)?;
        let now = SystemTime::now();
        let mut total = self.file_len;
        let mut sizes = Vec::with_capacity(rotated.len());
        for (_, path) in &rotated {
            let meta = std::fs::metadata(path).map_err(|e| AuditError::io("stat", path, e))?;
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            total += meta.len();
            sizes.push((meta.len(), age));
        }
        let mut remove = 0;
        let mut removed_bytes = 0;
        for (len, age) in &sizes {
            if total <= retention.max_bytes && *age <= retention.max_age {
                break;
            }
            total -= len;
            removed_bytes += len;
            remove += 1;
        }
        if remove == 0 {
            return Ok(());
        }
        let kept = match rotated.get(remove) {
            Some((_, path)) => first_line(path)?,
            None if self.file_len > 0 => first_line(&self.current)?,
            None => None,
        };
        // With every rotated file going and an empty current file, the checkpoint is the first line kept.
        let (first_kept, last_removed) = kept.unwrap_or((self.next_seq, self.prev));
        let mut event = serde_json::Map::new();
        event.insert("kind".into(), CHECKPOINT_KIND.into());
        event.insert("first_kept_seq".into(), first_kept.into());
        event.insert("last_removed_mac".into(), hex::encode(last_removed).into());
        event.insert("removed_files".into(), remove.into());
        event.insert("removed_bytes".into(), removed_bytes.into());
        self.retaining = true;
        let written = self.append(&event).and_then(|_| {
            let sync = std::mem::replace(&mut self.sync, true);
            let flushed = self.flush();
            self.sync = sync;
            flushed
        });
        self.retaining = false;
        written?;
        for (_, path) in &rotated[..remove] {
            std::fs::remove_file(path).map_err(|e| AuditError::io("remove", path, e))?;
        }
        tracing::info!(
            dir = %self.dir.display(),
            files = remove,
            bytes = removed_bytes,
            first_kept,
            "audit retention removed old log files"
        );
        sync_dir(&self.dir)
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "audit writer lost buffered lines at drop");
        }
    }
}
