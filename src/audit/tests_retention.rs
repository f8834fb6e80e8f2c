//! Tests for retention: old files go, a checkpoint line vouches for their
//! removal, and verification still catches tampering around it.
//! Test-only; must never touch anything outside its temp directories.

use super::tests::{env, ev, Env, TestResult};
use super::*;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const YEAR: Duration = Duration::from_secs(365 * 86_400);

fn files(e: &Env) -> Result<Vec<PathBuf>, AuditError> {
    read::all_files(&e.log)
}

fn total_bytes(e: &Env) -> Result<u64, Box<dyn std::error::Error>> {
    let mut total = 0;
    for path in files(e)? {
        total += std::fs::metadata(path)?.len();
    }
    Ok(total)
}

/// Writes `n` events with 400-byte files, keeping at most `max_bytes`.
fn write_retained(e: &Env, n: u64, max_bytes: u64) -> TestResult {
    let mut w = AuditWriter::open(&e.log, &e.key, 400)?;
    w.set_retention(Retention {
        max_bytes,
        max_age: YEAR,
    })?;
    for i in 0..n {
        w.append(&ev(i))?;
    }
    w.flush()?;
    Ok(())
}

fn checkpoints(e: &Env) -> Result<Vec<AuditEntry>, AuditError> {
    Ok(read_entries(&e.log)?
        .into_iter()
        .filter(|x| x.event["kind"] == CHECKPOINT_KIND)
        .collect())
}

#[test]
fn retention_by_size_removes_the_oldest_files_and_what_remains_verifies() -> TestResult {
    let e = env()?;
    write_retained(&e, 200, 2_000)?;
    // Rotated files stay within max_bytes; the current file adds up to a
    // rotation's worth plus the checkpoint line.
    let total = total_bytes(&e)?;
    assert!(total <= 2_000 + 2 * 400, "{total} bytes kept");
    let entries = read_entries(&e.log)?;
    assert!(entries[0].seq > 1, "nothing was removed");
    let report = verify(&e.log, &e.key)?;
    assert!(report.ok(), "{:?}", report.first_break);
    assert_eq!(report.lines, entries.len() as u64);
    let last = checkpoints(&e)?.pop().ok_or("no checkpoint")?;
    assert!(last.event["first_kept_seq"].as_u64() >= Some(entries[0].seq));
    assert!(last.event["removed_files"].as_u64() >= Some(1));
    // The writer reopens on what is left and the chain goes on.
    write_retained(&e, 5, 2_000)?;
    assert!(verify(&e.log, &e.key)?.ok());
    Ok(())
}

#[test]
fn retention_that_removes_every_rotated_file_leaves_a_chain_that_verifies() -> TestResult {
    let e = env()?;
    // max_bytes no bigger than one file: each rotation removes all the rotated files it can.
    write_retained(&e, 50, 400)?;
    let report = verify(&e.log, &e.key)?;
    assert!(report.ok(), "{:?}", report.first_break);
    assert!(read_entries(&e.log)?[0].seq > 40, "old lines are gone");
    assert!(total_bytes(&e)? <= 3 * 400);
    Ok(())
}

#[test]
fn retention_by_age_removes_only_files_past_it() -> TestResult {
    let e = env()?;
    let mut w = AuditWriter::open(&e.log, &e.key, 400)?;
    for i in 0..40 {
        w.append(&ev(i))?;
    }
    w.flush()?;
    drop(w);
    let rotated = read::rotated_files(&e.log)?;
    assert!(rotated.len() >= 4, "{} rotated files", rotated.len());
    let old = SystemTime::now() - Duration::from_secs(100 * 86_400);
    for (_, path) in &rotated[..2] {
        std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(old)?;
    }
    let mut w = AuditWriter::open(&e.log, &e.key, 400)?;
    w.set_retention(Retention {
        max_bytes: 1 << 30,
        max_age: Duration::from_secs(90 * 86_400),
    })?;
    drop(w);
    let left = read::rotated_files(&e.log)?;
    // The checkpoint line may have rotated the current file: one more at the end.
    assert_eq!(
        left[..rotated.len() - 2],
        rotated[2..],
        "exactly the two old files go"
    );
    let report = verify(&e.log, &e.key)?;
    assert!(report.ok(), "{:?}", report.first_break);
    Ok(())
}

#[test]
fn a_checkpoint_cannot_be_edited_or_dropped() -> TestResult {
    let e = env()?;
    write_retained(&e, 200, 2_000)?;
    let last = checkpoints(&e)?.pop().ok_or("no checkpoint")?;
    let kept = last.event["first_kept_seq"].as_u64().ok_or("seq")?;
    let holder = files(&e)?
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| t.contains(&format!("\"seq\":{},", last.seq)))
        })
        .ok_or("checkpoint file")?;
    let text = std::fs::read_to_string(&holder)?;
    // Claim more was removed than was: the MAC no longer fits.
    let forged = text.replace(
        &format!("\"first_kept_seq\":{kept},"),
        &format!("\"first_kept_seq\":{},", kept + 1),
    );
    assert_ne!(forged, text);
    std::fs::write(&holder, &forged)?;
    let report = verify(&e.log, &e.key)?;
    let b = report.first_break.ok_or("an edited checkpoint verified")?;
    assert_eq!(b.reason, "MAC mismatch");
    // Dropping the checkpoint line breaks the chain where it was.
    let dropped: String = text
        .lines()
        .filter(|l| !l.contains(CHECKPOINT_KIND))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&holder, dropped)?;
    assert!(
        !verify(&e.log, &e.key)?.ok(),
        "a dropped checkpoint verified"
    );
    Ok(())
}

/// Writes a retained log, removes its rotated file at `index`, and returns the break.
fn break_after_removing(index: usize) -> Result<ChainBreak, Box<dyn std::error::Error>> {
    let e = env()?;
    write_retained(&e, 200, 2_000)?;
    let rotated = read::rotated_files(&e.log)?;
    assert!(rotated.len() > index + 1, "{} rotated files", rotated.len());
    std::fs::remove_file(&rotated[index].1)?;
    let report = verify(&e.log, &e.key)?;
    Ok(report.first_break.ok_or("a removed file went unnoticed")?)
}

#[test]
fn removing_more_than_the_checkpoint_allows_is_detected() -> TestResult {
    // The oldest file left is what the checkpoint vouches for; without it the start is unvouched.
    let b = break_after_removing(0)?;
    assert!(
        b.reason.contains("no audit.checkpoint vouches"),
        "{}",
        b.reason
    );
    assert_eq!(b.line, 1);
    Ok(())
}

#[test]
fn removing_a_middle_file_is_still_detected() -> TestResult {
    let b = break_after_removing(1)?;
    assert!(b.reason.contains("prev does not match"), "{}", b.reason);
    Ok(())
}

#[test]
fn cutting_the_start_without_retention_is_detected() -> TestResult {
    let e = env()?;
    super::tests::write_n(&e, 40, 400)?;
    let rotated = read::rotated_files(&e.log)?;
    std::fs::remove_file(&rotated[0].1)?;
    let b = verify(&e.log, &e.key)?
        .first_break
        .ok_or("a cut start verified")?;
    assert!(b.reason.contains("not all zeros"), "{}", b.reason);
    Ok(())
}
