//! The audit key file: creates it once (32 random bytes, hex, mode 0600, in a
//! 0700 directory) and loads it only if it is private to the current user.
//!
//! This file must never write the key anywhere but the key file, never put any
//! of the file's content into an error or a log line, and never follow a
//! symlink at the key path.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use hmac::Mac;
use nix::fcntl::OFlag;
use rand::RngCore;

use super::format::{HmacSha256, Keyed};
use super::AuditError;

const KEY_BYTES: usize = 32;

/// Loads the key at `path`, creating it first if `create` and it is missing.
pub(crate) fn load_key(path: &Path, create: bool) -> Result<Keyed, AuditError> {
    if create {
        match create_key(path) {
            Ok(keyed) => return Ok(keyed),
            Err(AuditError::Io { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == nix::errno::Errno::ELOOP as i32 => AuditError::KeyInvalid {
                path: path.to_path_buf(),
                reason: "it is a symlink; point the configuration at the real file".into(),
            },
            _ => AuditError::io("open audit key", path, e),
        })?;
    check_private(&file, path)?;
    let mut text = String::new();
    (&file)
        .take(256)
        .read_to_string(&mut text)
        .map_err(|_| invalid(path))?;
    let mut key = [0u8; KEY_BYTES];
    hex::decode_to_slice(text.trim(), &mut key).map_err(|_| invalid(path))?;
    keyed(&key, path)
}

fn invalid(path: &Path) -> AuditError {
    AuditError::KeyInvalid {
        path: path.to_path_buf(),
        reason: format!("expected {} hex digits and a newline", KEY_BYTES * 2),
    }
}

fn keyed(key: &[u8; KEY_BYTES], path: &Path) -> Result<Keyed, AuditError> {
    HmacSha256::new_from_slice(key)
        .map(Keyed)
        .map_err(|_| invalid(path))
}

/// Refuses a key file that is not a regular file private to the current user.
fn check_private(file: &File, path: &Path) -> Result<(), AuditError> {
    let meta = file
        .metadata()
        .map_err(|e| AuditError::io("stat audit key", path, e))?;
    if !meta.is_file() {
        return Err(AuditError::KeyInvalid {
            path: path.to_path_buf(),
            reason: "it is not a regular file".into(),
        });
    }
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(AuditError::KeyOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(AuditError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates a new key with O_EXCL; `AlreadyExists` means "load it instead".
fn create_key(path: &Path) -> Result<Keyed, AuditError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| AuditError::io("create key directory", parent, e))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(|e| AuditError::io("create audit key", path, e))?;
    let mut key = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut text = hex::encode(key);
    text.push('\n');
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Do not leave a half-written key behind for the next start to refuse.
        let _ = std::fs::remove_file(path);
        return Err(AuditError::io("write audit key", path, e));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    tracing::info!(path = %path.display(), "created a new audit key");
    keyed(&key, path)
}
