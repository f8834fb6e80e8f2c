//! What `install.sh` put down (its install record) and `carapace uninstall`'s removal of it.
//!
//! The record (`<prefix>/share/carapace/INSTALL`, written by `scripts/install.sh`)
//! lists every file and every directory of an install, relative to the prefix.
//! Removal touches exactly those paths: each one opened beneath the prefix one
//! component at a time without following a link, files unlinked, directories
//! removed only when empty, nothing ever removed recursively. Must never remove
//! a path the record does not list, or reach outside the prefix through a link.

mod beneath;
mod error;
mod home;
mod in_use;
mod record;
mod remove;

use std::path::{Path, PathBuf};

pub use error::UninstallError;
pub use home::{check_home_removable, remove_home};
pub use in_use::running_programs;
pub use record::{InstallRecord, RecordedFile, RECORD_PATH};
pub use remove::{remove, Removal};

/// The prefix a program at `exe` was installed into: `<prefix>/bin/<program>`.
pub fn prefix_of(exe: &Path) -> Result<PathBuf, UninstallError> {
    let bin = exe
        .parent()
        .filter(|dir| dir.file_name().is_some_and(|n| n == "bin"));
    bin.and_then(Path::parent)
        .map(Path::to_owned)
        .ok_or_else(|| UninstallError::PrefixUnknown {
            exe: exe.display().to_string(),
        })
}
