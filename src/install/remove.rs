//! Removing exactly what an install record lists, beneath the prefix, never through a link.
//!
//! Files first (a plain file or a link is unlinked; a link's target is never
//! touched), then the record itself, then the directories, deepest first, each
//! only if empty: a directory that holds something else stays, and is named.

use std::path::Path;

use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::{beneath, InstallRecord, UninstallError, RECORD_PATH};

/// What a removal did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removal {
    /// Files removed (relative to the prefix), the record last.
    pub removed: Vec<String>,
    /// Listed files that were already gone.
    pub absent: Vec<String>,
    /// Listed paths left in place, and why (a directory where a file was, a link on the way).
    pub left: Vec<(String, String)>,
    /// Directories removed.
    pub removed_dirs: Vec<String>,
    /// Directories kept because something else is in them.
    pub kept_dirs: Vec<String>,
}

/// Removes the files and directories `record` lists under `prefix`, and the record.
pub fn remove(prefix: &Path, record: &InstallRecord) -> Result<Removal, UninstallError> {
    let prefix_fd = beneath::open_prefix(prefix).map_err(|source| UninstallError::Io {
        path: prefix.display().to_string(),
        source,
    })?;
    let mut removal = Removal::default();
    let files = record
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| *p != RECORD_PATH)
        .chain([RECORD_PATH]);
    for path in files {
        match remove_file(&prefix_fd, path) {
            Ok(()) => removal.removed.push(path.to_owned()),
            Err(Errno::NOENT) => removal.absent.push(path.to_owned()),
            Err(Errno::LOOP | Errno::NOTDIR) => removal.left.push((
                path.to_owned(),
                "a directory on its way is a symbolic link".into(),
            )),
            Err(Errno::ISDIR) => removal.left.push((
                path.to_owned(),
                "a directory is there now, not the installed file".into(),
            )),
            Err(e) => return Err(io_error(prefix, path, e)),
        }
    }
    let mut dirs: Vec<&str> = record.dirs.iter().map(String::as_str).collect();
    // Deepest first: a child sorts after its parent, so reversed order visits it before.
    dirs.sort_unstable();
    dirs.dedup();
    for dir in dirs.into_iter().rev() {
        let removed = beneath::parent_of(&prefix_fd, dir)
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))
            .and_then(|(parent, name)| {
                let stat = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                    return Err(Errno::NOTDIR);
                }
                rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)
            });
        match removed {
            Ok(()) => removal.removed_dirs.push(dir.to_owned()),
            Err(Errno::NOENT) => {}
            Err(Errno::NOTEMPTY | Errno::EXIST) => removal.kept_dirs.push(dir.to_owned()),
            Err(Errno::LOOP | Errno::NOTDIR) => removal.left.push((
                dir.to_owned(),
                "not a directory, or a link on its way".into(),
            )),
            Err(e) => return Err(io_error(prefix, dir, e)),
        }
    }
    Ok(removal)
}

fn io_error(prefix: &Path, path: &str, errno: Errno) -> UninstallError {
    UninstallError::Io {
        path: prefix.join(path).display().to_string(),
        source: errno.into(),
    }
}

/// Unlinks `path` beneath the prefix if it is not a directory.
fn remove_file(prefix: &std::os::fd::OwnedFd, path: &str) -> Result<(), Errno> {
    let (parent, name) = beneath::parent_of(prefix, path)
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    let stat = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        return Err(Errno::ISDIR);
    }
    rustix::fs::unlinkat(&parent, name, AtFlags::empty())
}
