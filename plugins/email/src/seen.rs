//! How far the poller got: INBOX's UIDVALIDITY and the last UID it handled, in the
//! data dir (`poll_seen`: `<uidvalidity> <uid>`, 0600, replaced atomically after
//! each mail is handled). A restart goes on after that UID, so nothing is repeated
//! and nothing that arrived meanwhile is lost; only the one mail being handled at a
//! crash (handed to the core, file not yet written) can be handed over again. A file
//! that cannot be read stops polling rather than start over, which would hand the
//! core mail a second time.

use std::path::{Path, PathBuf};

/// The file.
#[derive(Debug, Clone)]
pub struct SeenFile {
    path: PathBuf,
}

/// Where polling stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// INBOX's UIDVALIDITY the UID belongs to.
    pub uidvalidity: u32,
    /// The last UID handled.
    pub uid: u32,
}

/// The file is there but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{0} is unreadable or corrupt; remove it to start polling from the newest mail")]
pub struct SeenError(pub PathBuf);

impl SeenFile {
    /// The file in `data_dir`.
    pub fn in_dir(data_dir: &Path) -> SeenFile {
        SeenFile {
            path: data_dir.join("poll_seen"),
        }
    }

    /// The stored position, `None` before the first poll.
    pub fn load(&self) -> Result<Option<Seen>, SeenError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(SeenError(self.path.clone())),
        };
        let mut parts = text.split_whitespace();
        let parse = |p: Option<&str>| p.and_then(|p| p.parse::<u32>().ok());
        match (parse(parts.next()), parse(parts.next()), parts.next()) {
            (Some(uidvalidity), Some(uid), None) => Ok(Some(Seen { uidvalidity, uid })),
            _ => Err(SeenError(self.path.clone())),
        }
    }

    /// Stores `seen`.
    pub fn save(&self, seen: Seen) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::atomic::replace(
            &self.path,
            format!("{} {}\n", seen.uidvalidity, seen.uid).as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_loads_and_garbage_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = SeenFile::in_dir(dir.path());
        assert_eq!(file.load().expect("absent"), None);
        let seen = Seen {
            uidvalidity: 7,
            uid: 42,
        };
        file.save(seen).expect("save");
        assert_eq!(
            SeenFile::in_dir(dir.path()).load().expect("kept"),
            Some(seen)
        );
        std::fs::write(dir.path().join("poll_seen"), "7").expect("write");
        assert!(file.load().is_err());
        std::fs::write(dir.path().join("poll_seen"), "7 x").expect("write");
        assert!(file.load().is_err());
    }
}
