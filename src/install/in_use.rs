//! Which processes run a program of an install (found by the file they execute).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::InstallRecord;

/// `(pid, program)` for every process but this one whose executable is one of the
/// record's `bin/` files (compared by device and inode, so a moved or renamed
/// prefix still matches). Processes this user may not inspect are not seen.
pub fn running_programs(prefix: &Path, record: &InstallRecord) -> Vec<(u32, String)> {
    let programs: Vec<(u64, u64, &str)> = record
        .files
        .iter()
        .filter(|f| f.path.starts_with("bin/"))
        .filter_map(|f| {
            let meta = std::fs::symlink_metadata(prefix.join(&f.path)).ok()?;
            meta.is_file()
                .then(|| (meta.dev(), meta.ino(), f.path.as_str()))
        })
        .collect();
    let wanted: HashSet<(u64, u64)> = programs.iter().map(|(d, i, _)| (*d, *i)).collect();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let meta = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
            let key = (meta.dev(), meta.ino());
            if !wanted.contains(&key) {
                return None;
            }
            let program = programs.iter().find(|(d, i, _)| (*d, *i) == key)?.2;
            Some((pid, program.to_owned()))
        })
        .collect();
    found.sort();
    found
}
