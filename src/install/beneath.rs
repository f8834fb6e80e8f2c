//! Paths beneath the prefix, opened one component at a time, never through a link.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Opens the prefix itself (a link to it is followed: the prefix is what the user named).
pub(super) fn open_prefix(prefix: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        prefix,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The directory holding `relative` (plain names joined by `/`) and its last name;
/// every directory on the way is opened with `O_NOFOLLOW`, so a link there is an
/// error (`ELOOP` or `ENOTDIR`), never followed.
pub(super) fn parent_of<'a>(
    prefix: &OwnedFd,
    relative: &'a str,
) -> std::io::Result<(OwnedFd, &'a str)> {
    let (dirs, last) = match relative.rsplit_once('/') {
        Some((dirs, last)) => (Some(dirs), last),
        None => (None, relative),
    };
    let mut here = rustix::io::dup(prefix)?;
    for name in dirs.into_iter().flat_map(|d| d.split('/')) {
        here = rustix::fs::openat(
            &here,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
    }
    Ok((here, last))
}

/// Whether `relative` is plain names joined by `/`: no empty, `.` or `..` part, no
/// character but ASCII letters, digits and `._+-` (what install.sh writes).
pub(super) fn is_plain(relative: &str) -> bool {
    !relative.is_empty()
        && relative.split('/').all(|name| {
            !name.is_empty()
                && name != "."
                && name != ".."
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::is_plain;

    #[test]
    fn only_plain_relative_paths_pass() {
        for good in [
            "bin/carapace",
            "share/carapace/plugins/echo/skills/echo.md",
            "a+b-c_d.e",
        ] {
            assert!(is_plain(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "bin/",
            "bin//x",
            "../x",
            "bin/../../x",
            "./bin",
            "bin/.",
            "bin/a b",
            "bin/a\nb",
            "bin/é",
        ] {
            assert!(!is_plain(bad), "{bad:?}");
        }
    }
}
