//! A plugin's own small files (an offset, a polling position, a rotated token):
//! replaced atomically, so a reader (or a restart after a crash) sees the old
//! content or the new, never a torn mix; owner-only (0600); never opened through
//! a symbolic link.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Refuse to open a symbolic link (for the plugin's own files).
pub const O_NOFOLLOW: i32 = libc::O_NOFOLLOW;

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over
/// `path`, then syncs the directory so that the rename itself survives a crash.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        // Owner-only, created new (a file or link planted under that name is refused).
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
        return written;
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Opens `path` to read, never through a symbolic link (`O_NONBLOCK` too, so a
/// FIFO planted under the name cannot stall the plugin).
pub fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a plain file"));
    }
    Ok(file)
}

/// Reads `path` whole, never through a symbolic link, at most `max` bytes
/// (a longer file is an error, not a partial read).
pub fn read(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_no_follow(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!("over {max} bytes")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_or_a_fifo_is_never_read() {
        let dir = tempfile::tempdir().expect("temp");
        let real = dir.path().join("real");
        std::fs::write(&real, b"secret").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        assert!(read(&link, 100).is_err());
        assert_eq!(read(&real, 100).expect("read"), b"secret");
        assert!(read(&real, 3).is_err(), "over the limit");
        assert!(read(&dir.path().join("missing"), 3)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound));
    }

    #[test]
    fn the_file_is_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("offset");
        replace(&path, b"1\n").expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[test]
    fn the_file_is_replaced_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("offset");
        replace(&path, b"1\n").expect("write");
        replace(&path, b"22\n").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"22\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("offset")]);
    }
}
