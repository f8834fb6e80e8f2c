//! Tests for following the log with [`Follower`] across rotations.
//! Test-only; must never touch anything outside its temp directories.

use super::tests::{env, ev, seqs, write_n, TestResult};
use super::*;

#[test]
fn follower_survives_rotation() -> TestResult {
    let e = env()?;
    write_n(&e, 5, 1000)?;
    let mut follow = Follower::new(&e.log)?;
    assert!(follow.poll()?.is_empty());
    let mut w = AuditWriter::open(&e.log, &e.key, 1000)?;
    let mut got = Vec::new();
    for i in 0..30 {
        w.append(&ev(i))?;
        w.flush()?;
        if i % 7 == 0 {
            got.extend(follow.poll()?);
        }
    }
    got.extend(follow.poll()?);
    assert_eq!(seqs(&got), (6..=35).collect::<Vec<_>>());
    let mut from = Follower::after_seq(&e.log, 33)?;
    assert_eq!(seqs(&from.poll()?), vec![34, 35]);
    Ok(())
}

#[test]
fn follower_after_seq_reads_rotated_files() -> TestResult {
    let e = env()?;
    write_n(&e, 30, 1000)?;
    let mut f = Follower::after_seq(&e.log, 3)?;
    assert_eq!(seqs(&f.poll()?), (4..=30).collect::<Vec<_>>());
    assert!(f.poll()?.is_empty());
    write_n(&e, 2, 1000)?;
    assert_eq!(seqs(&f.poll()?), vec![31, 32]);
    Ok(())
}

#[test]
fn follower_rereads_line_rewritten_after_torn_tail() -> TestResult {
    let e = env()?;
    write_n(&e, 3, 1 << 20)?;
    let mut f = Follower::new(&e.log)?;
    let cur = e.log.join(CURRENT_FILE);
    let mut file = std::fs::OpenOptions::new().append(true).open(&cur)?;
    std::io::Write::write_all(
        &mut file,
        b"{\"seq\":4,\"ts\":\"2026-01-01T00:00:00.000000Z\"",
    )?;
    drop(file);
    assert!(f.poll()?.is_empty());
    write_n(&e, 1, 1 << 20)?; // truncates the torn line, records it, appends
    let got = f.poll()?;
    assert_eq!(seqs(&got), vec![4, 5]);
    assert_eq!(got[0].event["kind"], "audit.torn_tail_truncated");
    Ok(())
}
