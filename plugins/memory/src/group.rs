//! Group names and the database file each one maps to.
//!
//! Must never turn a name into a path before it matched `[A-Za-z0-9_-]{1,64}`.

use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The extension of a group's database file: `<group>.sqlite`.
pub const DATABASE_EXTENSION: &str = "sqlite";

/// Whether `name` is a group name (DESIGN §6: `[A-Za-z0-9_-]{1,64}`).
pub fn valid_group_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `<data_dir>/<group>.sqlite`, once `group` is a valid group name.
pub fn database_path(data_dir: &Path, group: &str) -> Result<PathBuf, StoreError> {
    if !valid_group_name(group) {
        return Err(StoreError::InvalidGroup);
    }
    Ok(data_dir.join(format!("{group}.{DATABASE_EXTENSION}")))
}

/// The group a file name in the data dir belongs to: `Some` for `<group>.sqlite`
/// with a valid name (never for `-wal`, `-shm` or anything else).
pub(crate) fn group_of_file(file_name: &str) -> Option<&str> {
    let group = file_name
        .strip_suffix(DATABASE_EXTENSION)?
        .strip_suffix('.')?;
    valid_group_name(group).then_some(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_group_names_become_paths() {
        let dir = Path::new("/data/memory");
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a b",
            "a.b",
            "é",
            "a\0",
            &"x".repeat(65),
        ] {
            assert!(database_path(dir, bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            database_path(dir, "Family_1-x").expect("valid"),
            Path::new("/data/memory/Family_1-x.sqlite")
        );
    }

    #[test]
    fn only_database_files_name_a_group() {
        assert_eq!(group_of_file("main.sqlite"), Some("main"));
        for other in [
            "main.sqlite-wal",
            "main.sqlite-shm",
            "main.sqlite.bak",
            ".sqlite",
            "a b.sqlite",
            "mainsqlite",
            "notes.txt",
        ] {
            assert_eq!(group_of_file(other), None, "{other}");
        }
    }
}
