//! Reading the audit log without the key: listing its files, reading the tail
//! of a file backwards, [`read_entries`] and [`tail`].
//!
//! This file only ever opens log files read-only. It must never skip a bad
//! line silently (a bad line is an error naming its file and line); the only
//! thing it leaves out is a final line with no newline yet, which is a write
//! in progress (or a torn tail the writer truncates at its next open).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::parse_line;
use super::{AuditEntry, AuditError, CURRENT_FILE};

/// File name of a rotated file whose first line has seq `first`.
pub(crate) fn rotated_name(first: u64) -> String {
    format!("audit-{first:020}.jsonl")
}

fn parse_rotated_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Rotated files in `dir` as `(first seq, path)`, oldest first.
pub(crate) fn rotated_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let read = std::fs::read_dir(dir).map_err(|e| AuditError::io("list", dir, e))?;
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| AuditError::io("list", dir, e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_rotated_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The seq and `prev` of the first line of `path` (parsed, not MAC-checked),
/// or `None` for a file without a complete line.
pub(crate) fn first_line(path: &Path) -> Result<Option<(u64, [u8; 32])>, AuditError> {
    let file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
    let mut line = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(|e| AuditError::io("read", path, e))?;
    let Some(line) = line.strip_suffix(b"\n") else {
        return Ok(None);
    };
    let parsed = parse_line(line).map_err(|reason| corrupt(path, "line 1".into(), reason))?;
    Ok(Some((parsed.entry.seq, parsed.prev)))
}

/// All log files in `dir` in chain order: rotated files, then `audit.jsonl`
/// if it exists.
pub(crate) fn all_files(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut files: Vec<PathBuf> = rotated_files(dir)?.into_iter().map(|(_, p)| p).collect();
    let current = dir.join(CURRENT_FILE);
    if current.exists() {
        files.push(current);
    }
    Ok(files)
}

/// The end of a file, read backwards.
pub(crate) struct Tail {
    /// Up to `n` last complete lines, oldest first, without newlines.
    pub(crate) lines: Vec<Vec<u8>>,
    /// Offset just past the last newline (0 if there is none).
    pub(crate) complete_end: u64,
}

/// Reads the last `n` complete lines of the first `len` bytes of `file`,
/// reading backwards in growing blocks so a big file is not read whole.
pub(crate) fn last_lines(file: &File, len: u64, n: usize) -> io::Result<Tail> {
    let mut pos = len;
    let mut data: Vec<u8> = Vec::new();
    let mut block = 64 * 1024u64;
    loop {
        let start = pos.saturating_sub(block);
        let mut chunk = vec![0u8; (pos - start) as usize];
        file.read_exact_at(&mut chunk, start)?;
        chunk.extend_from_slice(&data);
        data = chunk;
        pos = start;
        block = block.saturating_mul(2);
        let Some(last_nl) = data.iter().rposition(|b| *b == b'\n') else {
            if pos == 0 {
                return Ok(Tail {
                    lines: Vec::new(),
                    complete_end: 0,
                });
            }
            continue;
        };
        let complete = &data[..last_nl];
        let newlines = complete.iter().filter(|b| **b == b'\n').count();
        // Lines fully inside `data`; the first segment is partial unless pos == 0.
        let full = if pos == 0 { newlines + 1 } else { newlines };
        if full >= n || pos == 0 {
            let mut segs: Vec<&[u8]> = complete.split(|b| *b == b'\n').collect();
            if pos > 0 {
                segs.remove(0);
            }
            let skip = segs.len().saturating_sub(n);
            return Ok(Tail {
                lines: segs[skip..].iter().map(|s| s.to_vec()).collect(),
                complete_end: pos + last_nl as u64 + 1,
            });
        }
    }
}

fn corrupt(path: &Path, at: String, reason: String) -> AuditError {
    AuditError::Corrupt {
        path: path.to_path_buf(),
        at,
        reason,
    }
}

/// Reads every complete line of one file, in order, calling `each` with the
/// 1-based line number and the line. Returns whether the file ended with a
/// partial (newline-less) line, and that line's number.
pub(crate) fn for_each_line(
    path: &Path,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), AuditError>,
) -> Result<Option<u64>, AuditError> {
    let file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| AuditError::io("read", path, e))?;
        if n == 0 {
            return Ok(None);
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            return Ok(Some(number));
        }
        each(number, &line[..line.len() - 1])?;
    }
}

/// Every entry in `log_dir`, oldest first, parsed but not MAC-checked (use
/// [`super::verify`] for that). A line that does not parse is an error naming
/// its file and line; a newline-less last line of `audit.jsonl` is a write in
/// progress and is left out.
pub fn read_entries(log_dir: &Path) -> Result<Vec<AuditEntry>, AuditError> {
    // A rotation between listing and reading would skip a file: retry then.
    for _ in 0..5 {
        let files = all_files(log_dir)?;
        let mut out = Vec::new();
        for path in &files {
            let partial = for_each_line(path, |number, line| {
                let parsed = parse_line(line)
                    .map_err(|reason| corrupt(path, format!("line {number}"), reason))?;
                out.push(parsed.entry);
                Ok(())
            })?;
            let is_current = path.file_name().and_then(|n| n.to_str()) == Some(CURRENT_FILE);
            if let (Some(number), false) = (partial, is_current) {
                return Err(corrupt(path, format!("line {number}"), "no newline".into()));
            }
        }
        if all_files(log_dir)? == files {
            return Ok(out);
        }
    }
    Err(AuditError::Writer {
        dir: log_dir.to_path_buf(),
        reason: "the log kept rotating while it was being read".into(),
    })
}

/// The last `n` entries, oldest first, reading only the ends of the newest
/// files. Parse errors name the file and the line counted from its end.
pub fn tail(log_dir: &Path, n: usize) -> Result<Vec<AuditEntry>, AuditError> {
    let mut files = all_files(log_dir)?;
    let mut out: Vec<AuditEntry> = Vec::new();
    while out.len() < n {
        let Some(path) = files.pop() else { break };
        let file = File::open(&path).map_err(|e| AuditError::io("open", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| AuditError::io("stat", &path, e))?
            .len();
        let got =
            last_lines(&file, len, n - out.len()).map_err(|e| AuditError::io("read", &path, e))?;
        let count = got.lines.len();
        let mut entries = Vec::with_capacity(count + out.len());
        for (i, line) in got.lines.iter().enumerate() {
            let parsed = parse_line(line).map_err(|reason| {
                corrupt(&path, format!("line {} from the end", count - i), reason)
            })?;
            entries.push(parsed.entry);
        }
        entries.append(&mut out);
        out = entries;
    }
    Ok(out)
}
