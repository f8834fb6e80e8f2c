//! Tamper-evident audit log: an HMAC-chained JSON Lines file set.
//!
//! This module owns everything under the audit log directory (the core passes
//! `$CARAPACE_HOME/logs/audit/`) and the audit key file (the core passes
//! `$CARAPACE_HOME/keys/audit.key`, outside the log directory). It must never
//! write the key anywhere but its own key file, never put key material in an
//! error or a log message, and never log event values above `debug` (events
//! can hold tool arguments and results).
//!
//! # Files
//!
//! * `audit.jsonl` — the current file; lines are only ever appended.
//! * `audit-<first seq, zero-padded to 20 digits>.jsonl` — rotated files. When
//!   appending a line would push `audit.jsonl` past `rotate_bytes`, the file is
//!   renamed to this name and a new `audit.jsonl` continues the chain.
//! * Retention ([`Retention`]): after a rotation, rotated files are removed,
//!   oldest first, while all files exceed `max_bytes` or the oldest is older
//!   than `max_age`. First an `audit.checkpoint` line ([`CHECKPOINT_KIND`]) is
//!   appended and synced, naming `first_kept_seq` and `last_removed_mac`.
//! * Files are created 0600, directories 0700.
//!
//! # Line format
//!
//! One JSON object per line, always written in exactly this byte layout
//! (compact, no spaces, fields in this order):
//!
//! ```text
//! {"seq":N,"ts":"2026-11-27T20:10:00.123456Z","event":{...},"prev":"<64 hex>","mac":"<64 hex>"}\n
//! ```
//!
//! * `seq` starts at 1 and increases by exactly one per line across all files.
//! * `ts` is RFC 3339 UTC with microseconds: when the event was recorded.
//! * `event` is the event as [`EventLine`] encodes it: compact JSON, `kind`
//!   first, then `session` and `group` for a session's event, then the other
//!   fields in key order. Readers must not rely on the order; the MAC covers
//!   the bytes as written.
//! * `prev` is the `mac` of the previous line; 64 zeros on the very first line.
//!   Once retention removed old files, the first line left has another `prev`;
//!   a later checkpoint whose `first_kept_seq` is at or after it vouches for that.
//!
//! # MAC canonical form
//!
//! `mac = HMAC-SHA256(key, P)` where `P` is the exact bytes of the line from
//! the opening `{` up to and excluding `,"mac":"`, i.e. everything before the
//! last 74 bytes of the line (`,"mac":"` + 64 hex digits + `"}`, the newline
//! not counted). Verification takes those bytes from the file as they are, so
//! nothing is re-serialised. Because `prev` is inside `P`, every line is bound
//! to its predecessor: editing, deleting, inserting or reordering lines breaks
//! the chain at the first affected line. Truncating the *end* of the log is
//! not detectable from the chain alone (compare the last `seq` with what the
//! core reports, or keep an external copy of the last `mac`).
//!
//! A verifier also parses the whole line as JSON with exactly these five
//! fields, and requires the `mac` field to sit in the canonical position.

mod event;
mod follow;
mod format;
mod key;
mod read;
mod summary;
mod thread;
mod verify;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_follow;
#[cfg(test)]
mod tests_retention;
#[cfg(test)]
mod tests_tamper;
#[cfg(test)]
mod tests_thread;

use std::path::PathBuf;

pub use event::EventLine;
pub use follow::Follower;
pub use read::{read_entries, tail};
pub use summary::{
    RefusalKind, RefusalTally, Summary, MAX_TOPICS, MAX_TOPIC_CHARS, SUMMARY_INTERVAL, SUMMARY_KIND,
};
pub use thread::{AuditHealth, AuditLog, Ticket};
pub use verify::{verify, ChainBreak, VerifyReport};
pub use writer::{AuditWriter, Retention};

/// Name of the file currently being appended to, inside the log directory.
pub const CURRENT_FILE: &str = "audit.jsonl";

/// Kind of the line retention writes before it removes old files: it names the
/// first line kept (`first_kept_seq`) and the MAC of the last line removed
/// (`last_removed_mac`), so `verify` accepts a chain that starts there.
pub const CHECKPOINT_KIND: &str = "audit.checkpoint";

/// One parsed audit line (without its chain fields).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Sequence number, contiguous from 1 across all files.
    pub seq: u64,
    /// RFC 3339 UTC timestamp with microseconds, as written.
    pub ts: String,
    /// The caller's event object.
    pub event: serde_json::Map<String, serde_json::Value>,
}

/// Everything that can go wrong in the audit module.
///
/// Every variant names the file or directory concerned; none ever carries key
/// material or event values.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An I/O operation failed.
    #[error("audit: cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "open", "write".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key file grants access to group or others.
    #[error(
        "audit key {} has mode {mode:04o}, which lets group/others access it; \
         fix with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is owned by someone other than the current user.
    #[error(
        "audit key {} is owned by uid {owner}, not the current user (uid {uid}); \
         fix with `chown {uid} {}` and `chmod 600 {}`",
        path.display(),
        path.display(),
        path.display()
    )]
    KeyOwner {
        /// The key file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current effective uid.
        uid: u32,
    },
    /// The key file exists but is not a usable key (the content is never shown).
    #[error("audit key {} is invalid: {reason}", path.display())]
    KeyInvalid {
        /// The key file.
        path: PathBuf,
        /// Why, without any of the file's content.
        reason: String,
    },
    /// A log line could not be used.
    #[error("audit log {} {at}: {reason}; run `carapace audit verify`", path.display())]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Where in the file, e.g. "line 7" or "line 2 from the end".
        at: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line could not be written (disk full, I/O error, ...): the log is
    /// unavailable and calls are refused until a write succeeds again.
    #[error("audit log in {} cannot be written: {reason}", dir.display())]
    Unavailable {
        /// The log directory.
        dir: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The background writer thread has stopped or reported a failure.
    #[error("audit writer for {}: {reason}", dir.display())]
    Writer {
        /// The log directory the writer owns.
        dir: PathBuf,
        /// What happened.
        reason: String,
    },
}

impl AuditError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AuditError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
