//! Reading what a plugin folder supplies (its manifest, its skills) without
//! following a link out of it (issue 12, finding 1).
//!
//! The folder itself is opened once (an entry of a plugins directory may be a
//! link to it, as the Nix modules make them); below it every name is one path
//! component opened with `O_NOFOLLOW` relative to its parent's descriptor, so
//! a symbolic link anywhere inside is refused, never followed. A file must be
//! a plain file (opened `O_NONBLOCK`, so a FIFO cannot stall the core) and is
//! read with a bounded reader: the size is never taken from `stat`.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// Why a file of a plugin folder was refused; names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// A symbolic link where the core reads a file or directory.
    #[error("{path} is a symbolic link; the core reads no link inside a plugin folder (replace it with the file itself)")]
    Link {
        /// The offending path.
        path: String,
    },
    /// Something other than the expected plain file or directory.
    #[error("{path} is not a plain {expected}")]
    NotPlain {
        /// The offending path.
        path: String,
        /// `file` or `directory`.
        expected: &'static str,
    },
    /// Over the size limit.
    #[error("{path} is over {max} bytes")]
    TooLarge {
        /// The offending path.
        path: String,
        /// The limit.
        max: u64,
    },
    /// A directory with more entries than the core reads.
    #[error("{path} holds more than {max} entries; the core reads no further")]
    TooManyEntries {
        /// The directory.
        path: String,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotText {
        /// The offending path.
        path: String,
    },
    /// Any other failure to open or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The offending path.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// Most entries read from one directory of a plugin folder (the skills are
/// at most 64; this only bounds the work a crowded directory can cause).
pub const MAX_DIR_ENTRIES: usize = 4096;

/// One directory of a plugin folder, open; everything below is read through it.
#[derive(Debug)]
pub struct FolderDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl FolderDir {
    /// Opens the plugin folder `path` itself (a link to the folder is followed: it is
    /// the plugins directory's entry, placed by whoever installed the plugin).
    pub fn open(path: &Path) -> Result<FolderDir, FolderError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| FolderError::Io {
            path: path.display().to_string(),
            source: e.into(),
        })?;
        Ok(FolderDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subdirectory `name` (one component); `None` if there is none.
    pub fn subdir(&self, name: &str) -> Result<Option<FolderDir>, FolderError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let path = self.path.join(name);
        match self.open_at(name, flags, "directory")? {
            Some(fd) => Ok(Some(FolderDir { fd, path })),
            None => Ok(None),
        }
    }

    /// The names of the entries, sorted (`.` and `..` left out); more than
    /// [`MAX_DIR_ENTRIES`] refuses the directory.
    pub fn names(&self) -> Result<Vec<String>, FolderError> {
        let io = |e: Errno| FolderError::Io {
            path: self.path.display().to_string(),
            source: e.into(),
        };
        let dir = rustix::fs::Dir::read_from(&self.fd).map_err(io)?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            if names.len() == MAX_DIR_ENTRIES {
                return Err(FolderError::TooManyEntries {
                    path: self.path.display().to_string(),
                    max: MAX_DIR_ENTRIES,
                });
            }
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    /// The plain file `name` (one component), at most `max` bytes; `None` if absent.
    pub fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, FolderError> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let Some(fd) = self.open_at(name, flags, "file")? else {
            return Ok(None);
        };
        let path = || self.path.join(name).display().to_string();
        let file = std::fs::File::from(fd);
        let mut bytes = Vec::new();
        file.take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| FolderError::Io {
                path: path(),
                source,
            })?;
        if bytes.len() as u64 > max {
            return Err(FolderError::TooLarge { path: path(), max });
        }
        Ok(Some(bytes))
    }

    /// [`FolderDir::read`] as UTF-8 text.
    pub fn read_text(&self, name: &str, max: u64) -> Result<Option<String>, FolderError> {
        match self.read(name, max)? {
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| FolderError::NotText {
                    path: self.path.join(name).display().to_string(),
                }),
            None => Ok(None),
        }
    }

    /// Opens `name` below this directory, refusing links and other file types.
    fn open_at(
        &self,
        name: &str,
        flags: OFlags,
        expected: &'static str,
    ) -> Result<Option<OwnedFd>, FolderError> {
        let path = || self.path.join(name).display().to_string();
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(FolderError::NotPlain {
                path: path(),
                expected,
            });
        }
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            // O_NOFOLLOW on a link: ELOOP (ENOTDIR when a directory was asked for).
            Err(Errno::LOOP) => return Err(FolderError::Link { path: path() }),
            Err(Errno::NOTDIR) if self.is_link(name) => {
                return Err(FolderError::Link { path: path() })
            }
            Err(Errno::NOTDIR) => {
                return Err(FolderError::NotPlain {
                    path: path(),
                    expected,
                })
            }
            Err(e) => {
                return Err(FolderError::Io {
                    path: path(),
                    source: e.into(),
                })
            }
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| FolderError::Io {
            path: path(),
            source: e.into(),
        })?;
        let wanted = match expected {
            "directory" => FileType::Directory,
            _ => FileType::RegularFile,
        };
        if FileType::from_raw_mode(stat.st_mode) != wanted {
            return Err(FolderError::NotPlain {
                path: path(),
                expected,
            });
        }
        Ok(Some(fd))
    }

    /// Whether `name` is a symbolic link (only to word an error).
    fn is_link(&self, name: &str) -> bool {
        rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_and_sizes_bounded() {
        let root = tempfile::tempdir().expect("tempdir");
        let secret = root.path().join("secret");
        std::fs::write(&secret, "the secret").expect("write");
        let folder = root.path().join("plugin");
        std::fs::create_dir_all(folder.join("skills")).expect("mkdir");
        std::fs::write(folder.join("manifest.json"), "{}").expect("write");
        std::os::unix::fs::symlink(&secret, folder.join("skills/abs.md")).expect("link");
        std::os::unix::fs::symlink("../../secret", folder.join("skills/rel.md")).expect("link");
        std::os::unix::fs::symlink(root.path(), folder.join("linked")).expect("link");
        std::fs::write(folder.join("big"), vec![b'x'; 11]).expect("write");
        nix::unistd::mkfifo(&folder.join("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("fifo");

        let dir = FolderDir::open(&folder).expect("open");
        assert_eq!(
            dir.read("manifest.json", 10).expect("read"),
            Some(b"{}".to_vec())
        );
        assert!(dir.read("absent", 10).expect("absent").is_none());
        assert!(matches!(
            dir.read("big", 10),
            Err(FolderError::TooLarge { .. })
        ));
        assert!(matches!(
            dir.read("fifo", 10),
            Err(FolderError::NotPlain { .. })
        ));
        assert!(matches!(
            dir.subdir("linked"),
            Err(FolderError::Link { .. })
        ));
        assert!(matches!(
            dir.read("..", 10),
            Err(FolderError::NotPlain { .. })
        ));
        let skills = dir.subdir("skills").expect("skills").expect("present");
        assert_eq!(skills.names().expect("names"), vec!["abs.md", "rel.md"]);
        for name in ["abs.md", "rel.md"] {
            let err = skills.read(name, 100).expect_err("a link");
            assert!(matches!(err, FolderError::Link { .. }), "{err}");
            assert!(!err.to_string().contains("the secret"));
        }
    }

    #[test]
    fn a_crowded_directory_is_read_no_further_than_the_bound() {
        let root = tempfile::tempdir().expect("tempdir");
        let crowded = root.path().join("skills");
        std::fs::create_dir(&crowded).expect("mkdir");
        for i in 0..MAX_DIR_ENTRIES {
            std::fs::write(crowded.join(format!("junk-{i}")), "").expect("write");
        }
        let dir = FolderDir::open(root.path()).expect("open");
        let skills = dir.subdir("skills").expect("skills").expect("present");
        assert_eq!(skills.names().expect("at the bound").len(), MAX_DIR_ENTRIES);
        std::fs::write(crowded.join("one-more"), "").expect("write");
        let err = skills.names().expect_err("past the bound");
        assert!(matches!(err, FolderError::TooManyEntries { .. }), "{err}");
    }
}
