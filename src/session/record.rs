//! The core's record of a session, `state/sessions/<id>.json`: what a restarted core
//! restores a session's identity from.
//!
//! It lives in the core's private state (0700 directory, 0600 file, written atomically),
//! never in the session directory, which is mounted into a container: nothing a container
//! can write decides a restored session's group. A record that is missing, not a private
//! file of ours, too large, malformed or about another session is refused with a reason.

use serde::{Deserialize, Serialize};

use super::Origin;
use crate::config::valid_group_name;
use crate::paths::{
    create_private_dir, read_private_file, write_private_file, Home, PrivateReadError,
};

/// Largest record read back.
const MAX_RECORD_BYTES: u64 = 4096;

/// What the core keeps of a session across a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The session id (16 hex digits).
    pub id: String,
    /// The configured group it acts for.
    pub group: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Whether an agent container serves the session (it cannot outlive its core).
    #[serde(default)]
    pub agent: bool,
    /// What started it; a record of an older core has none and restores as
    /// `open`/`unknown`. Its sender is bounded, so the record stays under 4 KiB.
    #[serde(default)]
    pub origin: Origin,
}

/// Why a record cannot be restored; shown in the log and the audit line, never a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// No record for this session.
    #[error("no record")]
    Missing,
    /// A symlink, a non-file, another owner, loose mode, or unreadable.
    #[error("record is not a private file of the core: {0}")]
    Unsafe(String),
    /// Too large or not a record.
    #[error("record is corrupt")]
    Corrupt,
    /// A record of another session, or with a bad group name.
    #[error("record does not match its session")]
    Mismatch,
}

/// A session id the core made: 16 lowercase hex digits.
pub fn valid_session_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Writes `record` atomically to `state/sessions/<id>.json` (0600).
pub fn write(home: &Home, record: &Record) -> std::io::Result<()> {
    let dir = home.session_records_dir();
    create_private_dir(&home.state_dir())?;
    create_private_dir(&dir)?;
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    write_private_file(&dir, &format!("{}.json", record.id), &text).map(|_| ())
}

/// Reads the record of session `id`, checked to be ours, private and about that session.
pub fn read(home: &Home, id: &str) -> Result<Record, RecordError> {
    if !valid_session_id(id) {
        return Err(RecordError::Mismatch);
    }
    let bytes = match read_private_file(&home.session_record(id), MAX_RECORD_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(RecordError::Missing),
        Err(PrivateReadError::Unsafe(why)) => return Err(RecordError::Unsafe(why)),
        Err(PrivateReadError::TooLarge(_)) => return Err(RecordError::Corrupt),
    };
    let record: Record = serde_json::from_slice(&bytes).map_err(|_| RecordError::Corrupt)?;
    if record.id != id || !valid_group_name(&record.group) {
        return Err(RecordError::Mismatch);
    }
    Ok(record)
}

/// Removes the record of session `id`; absent is fine.
pub fn remove(home: &Home, id: &str) {
    if valid_session_id(id) {
        let _ = std::fs::remove_file(home.session_record(id));
    }
}

/// The ids of every record on disk (names that are not ids are skipped).
pub fn ids(home: &Home) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home.session_records_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".json")?;
            valid_session_id(id).then(|| id.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn record(id: &str) -> Record {
        Record {
            id: id.into(),
            group: "main".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            agent: false,
            origin: Origin::default(),
        }
    }

    #[test]
    fn the_origin_is_kept_and_an_older_record_restores_as_open_and_unknown() {
        use crate::session::origin::{Trust, MAX_SENDER_CHARS};
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().to_path_buf());
        let id = "0123456789abcdef";
        // The largest origin a channel can cause: the longest plugin name and a
        // sender of characters of four bytes each (the most any takes, escaped or not).
        let payload = serde_json::json!({
            "sender": "\u{1d54f}".repeat(2 * MAX_SENDER_CHARS),
            "trust": "owner",
        });
        let origin = Origin::of_event("message.inbound", &"p".repeat(64), &payload)
            .expect("a message starts a session");
        let largest = Record {
            group: "g".repeat(64),
            origin,
            ..record(id)
        };
        write(&home, &largest).expect("write");
        let size = std::fs::metadata(home.session_record(id))
            .expect("meta")
            .len();
        assert!(size <= MAX_RECORD_BYTES, "{size} bytes");
        assert_eq!(read(&home, id), Ok(largest));

        let older = r#"{"id":"0123456789abcdef","group":"main","started_at":"x","agent":false}"#;
        std::fs::write(home.session_record(id), older).expect("write");
        let restored = read(&home, id).expect("an older record reads");
        assert_eq!(restored.origin, Origin::open(Trust::Unknown));
    }

    #[test]
    fn a_record_round_trips_privately_and_anything_else_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().to_path_buf());
        let id = "0123456789abcdef";
        assert_eq!(read(&home, id), Err(RecordError::Missing));
        write(&home, &record(id)).expect("write");
        let path = home.session_record(id);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read(&home, id), Ok(record(id)));
        assert_eq!(ids(&home), vec![id.to_owned()]);

        let other = "fedcba9876543210";
        std::fs::copy(&path, home.session_record(other)).expect("copy");
        assert_eq!(read(&home, other), Err(RecordError::Mismatch));
        std::fs::write(home.session_record(other), b"{\"id\":").expect("write");
        assert_eq!(read(&home, other), Err(RecordError::Corrupt));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(read(&home, id), Err(RecordError::Unsafe(_))));
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(home.session_record(other), &path).expect("symlink");
        assert!(matches!(read(&home, id), Err(RecordError::Unsafe(_))));
        assert_eq!(read(&home, "../x"), Err(RecordError::Mismatch));
        remove(&home, id);
        remove(&home, other);
        assert!(ids(&home).is_empty());
    }
}
