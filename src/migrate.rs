//! The one-time move of an old home's core-owned files out of the plugin namespaces.
//!
//! Homes made before the core reserved its names kept the model's credentials in
//! `credentials/model/` and the agent's transcripts and state in `data/agent/`, where a
//! plugin named `model` or `agent` was handed them. At start (and before `auth` touches the
//! store) each old directory is renamed to its core-only place, and the move is logged.
//! Nothing is merged: when both the old and the new directory hold files the core refuses
//! to start and says which one to remove.
//!
//! The old directories were a plugin's to write, so what they hold is not trusted: a
//! symbolic link, a FIFO, a socket or a device anywhere in the tree refuses the move
//! (nothing is moved, nothing removed) with the path to check. Skipping such an entry
//! would either leave the old directory behind (and the next start refuse anyway) or
//! delete something the user may want to look at; refusing loses nothing and says why.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

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
    /// The old tree holds a link or a file that is neither plain nor a directory.
    #[error(
        "{path} is a {kind} inside {from}, which an old plugin could write; nothing was \
         moved: check it, remove it (`rm {path}`), then start again"
    )]
    Unsafe {
        /// The offending entry.
        path: String,
        /// `symbolic link`, `FIFO`, `socket`, `device`.
        kind: &'static str,
        /// The old directory.
        from: String,
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
    if let Some((path, kind)) = first_odd_entry(from).map_err(io)? {
        return Err(MigrationError::Unsafe {
            path: shown(&path),
            kind,
            from: shown(from),
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

/// The first entry beneath `root` that is neither a plain file nor a directory, with
/// its kind. Nothing is followed: every entry's type is its own (`lstat`).
fn first_odd_entry(root: &Path) -> std::io::Result<Option<(PathBuf, &'static str)>> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let odd = if kind.is_dir() {
                pending.push(entry.path());
                continue;
            } else if kind.is_file() {
                continue;
            } else if kind.is_symlink() {
                "symbolic link"
            } else if kind.is_fifo() {
                "FIFO"
            } else if kind.is_socket() {
                "socket"
            } else {
                "device"
            };
            return Ok(Some((entry.path(), odd)));
        }
    }
    Ok(None)
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

    #[test]
    fn a_link_or_odd_file_inside_the_old_tree_refuses_the_move_and_loses_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, home) = home();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("outside");
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let old = home.root().join("data/agent/main");
        std::fs::create_dir_all(&old).expect("mkdir");
        std::fs::write(old.join("0123456789abcdef.jsonl"), "transcript").expect("write");
        std::os::unix::fs::symlink(&outside, old.join("state")).expect("symlink");
        let err = migrate_home(&home).expect_err("a planted link is refused");
        let shown = old.join("state").display().to_string();
        assert!(
            matches!(err, MigrationError::Unsafe { .. })
                && err.to_string().contains(&shown)
                && err.to_string().contains("symbolic link"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(old.join("0123456789abcdef.jsonl")).expect("kept"),
            "transcript"
        );
        assert!(!home.root().join("state/agent").exists(), "nothing moved");
        std::fs::remove_file(old.join("state")).expect("rm link");
        nix::unistd::mkfifo(&old.join("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("fifo");
        let err = migrate_home(&home).expect_err("a FIFO is refused");
        assert!(err.to_string().contains("fifo"), "{err}");
        std::fs::remove_file(old.join("fifo")).expect("rm fifo");
        migrate_home(&home).expect("a plain tree moves");
        assert!(home
            .agent_dir("main")
            .join("0123456789abcdef.jsonl")
            .is_file());
    }
}
