//! Removing the Carapace home on `uninstall --remove-home`: only one that looks
//! like a home, is not a link, and is neither `$HOME`, `/`, nor holds the prefix.

use std::path::Path;

use super::UninstallError;

/// Entries of which a Carapace home holds at least one (`paths::Home::ensure_layout`).
const HOME_MARKERS: [&str; 5] = ["config.toml", "keys", "logs", "run", "state"];

/// Why `home` must not be removed, if it must not; `prefix` is the install's.
pub fn check_home_removable(home: &Path, prefix: &Path) -> Result<(), UninstallError> {
    let refuse = |reason: &str| UninstallError::HomeRefused {
        path: home.display().to_string(),
        reason: reason.to_owned(),
    };
    let meta = std::fs::symlink_metadata(home).map_err(|source| UninstallError::Io {
        path: home.display().to_string(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(refuse(
            "it is a symbolic link; remove the link or its target by hand",
        ));
    }
    if !meta.is_dir() {
        return Err(refuse("it is not a directory"));
    }
    if !home.is_absolute() || home.parent().is_none() {
        return Err(refuse("it is not an absolute path below /"));
    }
    let user_home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    if user_home.as_deref() == Some(home) {
        return Err(refuse("it is your own home directory ($HOME)"));
    }
    if prefix.starts_with(home) {
        return Err(refuse("the install prefix is inside it"));
    }
    if !HOME_MARKERS.iter().any(|m| home.join(m).exists()) {
        return Err(refuse(
            "it does not look like a Carapace home (no config.toml, keys/, logs/, run/ or state/)",
        ));
    }
    Ok(())
}

/// Removes the home and everything in it (links inside are removed, never followed).
pub fn remove_home(home: &Path, prefix: &Path) -> Result<(), UninstallError> {
    check_home_removable(home, prefix)?;
    std::fs::remove_dir_all(home).map_err(|source| UninstallError::Io {
        path: home.display().to_string(),
        source,
    })
}
