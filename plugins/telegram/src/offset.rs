//! The `getUpdates` offset, persisted in the data dir (`offset`: one decimal number).
//!
//! Telegram keeps an update until a `getUpdates` asks from past it. The poller writes
//! the next offset (atomically, synced) right after it has handled each update, and
//! starts from the stored one. So a restart, clean or not, loses nothing: an update
//! not yet handled is asked for again. What can repeat: the one update being handled
//! when the process died, after its handling and before its offset was written (a
//! window of one file write). A file that cannot be read stops `initialize` rather
//! than start from 0, which would replay every update Telegram still holds.

use std::path::{Path, PathBuf};

/// The offset file of a data dir.
#[derive(Debug, Clone)]
pub struct OffsetFile {
    path: PathBuf,
}

/// Why the stored offset cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It does not hold one non-negative number.
    #[error(
        "{path} does not hold an update offset; remove it to start from what Telegram still holds"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
    },
}

impl OffsetFile {
    /// The offset file in `data_dir`.
    pub fn in_dir(data_dir: &Path) -> OffsetFile {
        OffsetFile {
            path: data_dir.join("offset"),
        }
    }

    /// The stored offset, 0 when there is none yet.
    pub fn load(&self) -> Result<i64, OffsetError> {
        let bytes = carapace_plugin_sdk::files::read(&self.path, 64);
        let text = match bytes.map(|b| String::from_utf8_lossy(&b).into_owned()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(OffsetError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|offset| *offset >= 0)
            .ok_or_else(|| OffsetError::Invalid {
                path: self.path.clone(),
            })
    }

    /// Stores `offset` (the next update id to ask for).
    pub fn save(&self, offset: i64) -> std::io::Result<()> {
        crate::atomic::replace(&self.path, format!("{offset}\n").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_zero_stored_is_kept_garbage_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = OffsetFile::in_dir(dir.path());
        assert_eq!(file.load().expect("absent"), 0);
        file.save(4242).expect("save");
        assert_eq!(OffsetFile::in_dir(dir.path()).load().expect("kept"), 4242);
        std::fs::write(dir.path().join("offset"), "12ab").expect("write");
        assert!(matches!(file.load(), Err(OffsetError::Invalid { .. })));
        std::fs::write(dir.path().join("offset"), "-3").expect("write");
        assert!(file.load().is_err());
    }
}
