//! Reading the install record `share/carapace/INSTALL` that `scripts/install.sh` writes.
//!
//! Line format (format 1): `# comments`, then `format 1`, `version V`, `target T`,
//! `commit C`, `prefix P` (where it was installed; informational), `dir PATH` for each
//! directory the installer made, `file SHA256 PATH` for each file. Paths are relative
//! to the prefix and plain (see [`super::beneath::is_plain`]), under `bin/` or `share/`.
//! Anything else makes the whole record untrusted: nothing is removed from it.

use std::io::Read;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use super::beneath;
use super::UninstallError;

/// Where the record lives, relative to the prefix.
pub const RECORD_PATH: &str = "share/carapace/INSTALL";

/// Largest record read (an install has a few dozen lines).
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// One installed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    /// Its SHA-256 when installed (hex).
    pub sha256: String,
    /// Relative to the prefix.
    pub path: String,
}

/// What one install put down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallRecord {
    /// The installed version.
    pub version: String,
    /// The target it was built for.
    pub target: String,
    /// The prefix the installer wrote, if any.
    pub installed_prefix: Option<String>,
    /// Every installed file.
    pub files: Vec<RecordedFile>,
    /// Every directory the installer made.
    pub dirs: Vec<String>,
}

impl InstallRecord {
    /// Reads `<prefix>/share/carapace/INSTALL` without following a link below the prefix.
    pub fn read(prefix: &Path) -> Result<InstallRecord, UninstallError> {
        let path = prefix.join(RECORD_PATH).display().to_string();
        let bad = |reason: String| UninstallError::BadRecord {
            path: path.clone(),
            reason,
        };
        let prefix_fd = beneath::open_prefix(prefix).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => UninstallError::NoRecord { path: path.clone() },
            _ => UninstallError::Io {
                path: prefix.display().to_string(),
                source: e,
            },
        })?;
        let opened = beneath::parent_of(&prefix_fd, RECORD_PATH).and_then(|(dir, name)| {
            Ok(rustix::fs::openat(
                &dir,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )?)
        });
        let fd = match opened {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(UninstallError::NoRecord { path })
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(bad(
                    "it, or a directory on its way, is a symbolic link".into()
                ))
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| bad(e.to_string()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(bad("not a plain file".into()));
        }
        let mut text = String::new();
        std::fs::File::from(fd)
            .take(MAX_RECORD_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(e.to_string()))?;
        if text.len() as u64 > MAX_RECORD_BYTES {
            return Err(bad(format!("over {MAX_RECORD_BYTES} bytes")));
        }
        InstallRecord::parse(&text).map_err(bad)
    }

    /// Parses the record's text; the error names the line.
    pub fn parse(text: &str) -> Result<InstallRecord, String> {
        let mut record = InstallRecord {
            version: String::new(),
            target: String::new(),
            installed_prefix: None,
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let mut format_seen = false;
        for (index, line) in text.lines().enumerate() {
            let at = |reason: &str| format!("line {}: {reason}", index + 1);
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            if !format_seen {
                if (key, value) != ("format", "1") {
                    return Err(at("the first line must be `format 1`"));
                }
                format_seen = true;
                continue;
            }
            match key {
                "version" => record.version = plain_word(value).ok_or_else(|| at("bad version"))?,
                "target" => record.target = plain_word(value).ok_or_else(|| at("bad target"))?,
                "commit" => {}
                "prefix" => record.installed_prefix = Some(value.to_owned()),
                "dir" => {
                    record.dirs.push(installed_path(value).ok_or_else(|| {
                        at("a directory must be a plain path under bin/ or share/")
                    })?)
                }
                "file" => {
                    let (sha256, path) = value.split_once(' ').unwrap_or(("", value));
                    let sha256_ok = sha256.len() == 64
                        && sha256
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                    if !sha256_ok {
                        return Err(at("a file needs its SHA-256 (64 hex digits)"));
                    }
                    let path = installed_path(path)
                        .ok_or_else(|| at("a file must be a plain path under bin/ or share/"))?;
                    record.files.push(RecordedFile {
                        sha256: sha256.to_owned(),
                        path,
                    });
                }
                _ => return Err(at("unknown entry")),
            }
        }
        if !format_seen {
            return Err("no `format 1` line".into());
        }
        if record.version.is_empty() {
            return Err("no version".into());
        }
        Ok(record)
    }
}

/// A version or target: letters, digits and `._+-`.
fn plain_word(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    ok.then(|| value.to_owned())
}

/// A path an install may hold: plain, under `bin/` or `share/`.
fn installed_path(value: &str) -> Option<String> {
    let under = matches!(value, "bin" | "share")
        || value.starts_with("bin/")
        || value.starts_with("share/");
    (under && beneath::is_plain(value)).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::InstallRecord;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_record_install_sh_writes_parses() {
        let text = format!(
            "# comment\nformat 1\nversion 0.1.0\ntarget x86_64-unknown-linux-gnu\ncommit abc\n\
             prefix /home/u/.local\ndir share/carapace\nfile {HASH} bin/carapace\n"
        );
        let record = InstallRecord::parse(&text).expect("parses");
        assert_eq!(record.version, "0.1.0");
        assert_eq!(record.dirs, ["share/carapace"]);
        assert_eq!(record.files[0].path, "bin/carapace");
        assert_eq!(record.installed_prefix.as_deref(), Some("/home/u/.local"));
    }

    #[test]
    fn anything_odd_refuses_the_whole_record() {
        for (text, says) in [
            ("version 1\nformat 1\n".to_owned(), "line 1"),
            ("format 2\nversion 1\n".to_owned(), "format 1"),
            ("format 1\n".to_owned(), "no version"),
            (
                format!("format 1\nversion 1\nfile {HASH} ../../etc/passwd\n"),
                "line 3",
            ),
            (
                format!("format 1\nversion 1\nfile {HASH} /etc/passwd\n"),
                "line 3",
            ),
            (
                format!("format 1\nversion 1\nfile {HASH} etc/passwd\n"),
                "line 3",
            ),
            (
                "format 1\nversion 1\nfile xyz bin/carapace\n".to_owned(),
                "SHA-256",
            ),
            ("format 1\nversion 1\ndir bin/../..\n".to_owned(), "line 3"),
            ("format 1\nversion 1\nrmrf /\n".to_owned(), "unknown entry"),
            ("format 1\nversion 1 2\n".to_owned(), "bad version"),
        ] {
            let error = InstallRecord::parse(&text).expect_err(&text);
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }
}
