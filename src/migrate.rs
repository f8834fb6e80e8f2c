//! The one-time move of an old home's core-owned files out of the plugin namespaces.
//!
//! Homes made before the core reserved its names kept the model's credentials in
//! `credentials/model/` and the agent's transcripts and state in `data/agent/`, where a
//! plugin named `model` or `agent` was handed them. At start (and before `auth` touches the
//! store) each old directory is renamed to its core-only place, and the move is logged.
//! Nothing is merged: when both the old and the new directory hold files the core refuses
//! to start and says which one to remove.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::paths::{create_private_dir, Home};

/// One directory moved to its core-only place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The old place, relative to the home (`credentials/model`).
    pub from: String,
    /// The new place, relative to the home (`keys/model`).
    pub to: String,
}

/// Why an old home could not be moved to the new layout; each message says what to run.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The old and the new directory both hold files.
    #[error(
        "{from} (old layout) and {to} both exist; the core reads only {to}: \
         move what you still need into it, then `rm -r {from}`"
    )]
    Both {
        /// The old directory.
        from: String,
        /// The new directory.
        to: String,
    },
    /// The old path is a symlink, not a directory, or not this user's.
    #[error("{path} is not a plain directory owned by uid {uid}; check it, then `rm -r {path}`")]
    NotPlain {
        /// The old path.
        path: String,
        /// This process's uid.
        uid: u32,
    },
    /// The move failed.
    #[error("cannot move {from} to {to}: {source}; run `mv {from} {to}`")]
    Io {
        /// The old directory.
        from: String,
        /// The new directory.
        to: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The old place and the new one of every core-owned directory, relative to the home.
pub const MOVES: &[(&str, &str)] = &[
    ("credentials/model", "keys/model"),
    ("data/agent", "state/agent"),
];

/// Moves every old-layout directory of `home` to its core-only place; returns what moved.
pub fn migrate_home(home: &Home) -> Result<Vec<Moved>, MigrationError> {
    let mut moved = Vec::new();
    for (from, to) in MOVES {
        if move_one(&home.root().join(from), &home.root().join(to))? {
            tracing::warn!(
                from = %from,
                to = %to,
                "moved the core's own files out of a plugin's namespace (one-time migration)"
            );
            moved.push(Moved {
                from: (*from).to_owned(),
                to: (*to).to_owned(),
            });
        }
    }
    Ok(moved)
}

/// Renames `from` to `to`; `false` when there was nothing to move.
fn move_one(from: &Path, to: &Path) -> Result<bool, MigrationError> {
    let shown = |p: &Path| p.display().to_string();
    let io = |source| MigrationError::Io {
        from: shown(from),
        to: shown(to),
        source,
    };
    let meta = match std::fs::symlink_metadata(from) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(e)),
    };
    let uid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != uid {
        return Err(MigrationError::NotPlain {
            path: shown(from),
            uid,
        });
    }
    if std::fs::symlink_metadata(to).is_ok() {
        if is_empty(from).map_err(io)? {
            std::fs::remove_dir(from).map_err(io)?;
            return Ok(false);
        }
        return Err(MigrationError::Both {
            from: shown(from),
            to: shown(to),
        });
    }
    if let Some(parent) = to.parent() {
        create_private_dir(parent).map_err(io)?;
    }
    std::fs::rename(from, to).map_err(io)?;
    if let Some(parent) = to.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(true)
}

fn is_empty(dir: &Path) -> std::io::Result<bool> {
    Ok(std::fs::read_dir(dir)?.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().to_path_buf());
        home.ensure_layout().expect("layout");
        (dir, home)
    }

    #[test]
    fn an_old_home_is_moved_once_and_a_new_one_is_left_alone() {
        let (_dir, home) = home();
        assert_eq!(migrate_home(&home).expect("nothing to do"), vec![]);
        let old_key = home.root().join("credentials/model");
        std::fs::create_dir_all(&old_key).expect("mkdir");
        std::fs::write(old_key.join("anthropic_api_key"), "k").expect("write");
        std::fs::create_dir_all(home.root().join("data/agent/main/state")).expect("mkdir");
        let moved = migrate_home(&home).expect("moved");
        assert_eq!(moved.len(), 2);
        assert!(home
            .model_credentials_dir()
            .join("anthropic_api_key")
            .is_file());
        assert!(home.agent_dir("main").join("state").is_dir());
        assert!(!home.root().join("credentials/model").exists());
        assert!(!home.root().join("data/agent").exists());
        assert_eq!(migrate_home(&home).expect("again"), vec![]);
    }

    #[test]
    fn both_layouts_at_once_are_refused_and_a_symlink_is_not_followed() {
        let (_dir, home) = home();
        std::fs::create_dir_all(home.root().join("credentials/model")).expect("mkdir");
        std::fs::write(home.root().join("credentials/model/x"), "a").expect("write");
        std::fs::create_dir_all(home.model_credentials_dir()).expect("mkdir");
        let err = migrate_home(&home).expect_err("both");
        assert!(err.to_string().contains("rm -r"), "{err}");
        std::fs::remove_dir_all(home.root().join("credentials/model")).expect("rm");
        std::fs::create_dir_all(home.root().join("data")).expect("mkdir");
        std::os::unix::fs::symlink("/etc", home.root().join("data/agent")).expect("symlink");
        assert!(matches!(
            migrate_home(&home),
            Err(MigrationError::NotPlain { .. })
        ));
    }
}
