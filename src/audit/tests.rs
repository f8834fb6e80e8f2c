//! Tests for writing, rotating, reopening, reading and following the audit
//! log. Test-only; must never touch anything outside its temp directories.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub(super) type TestResult = Result<(), Box<dyn std::error::Error>>;

pub(super) struct Env {
    _tmp: tempfile::TempDir,
    pub(super) log: PathBuf,
    pub(super) key: PathBuf,
}

pub(super) fn env() -> Result<Env, std::io::Error> {
    let tmp = tempfile::tempdir()?;
    let log = tmp.path().join("logs/audit");
    let key = tmp.path().join("keys/audit.key");
    Ok(Env {
        _tmp: tmp,
        log,
        key,
    })
}

pub(super) fn ev(i: u64) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("kind".into(), "tool.invoke".into());
    m.insert("i".into(), i.into());
    m.insert(
        "note".into(),
        "quote \" newline \n mac \",\"mac\":\"".into(),
    );
    m
}

pub(super) fn write_n(e: &Env, n: u64, rotate: u64) -> Result<(), AuditError> {
    let mut w = AuditWriter::open(&e.log, &e.key, rotate)?;
    for i in 0..n {
        w.append(&ev(i))?;
    }
    w.flush()
}

fn mode(p: &Path) -> Result<u32, std::io::Error> {
    Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
}

pub(super) fn seqs(entries: &[AuditEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

#[test]
fn append_then_verify_ok() -> TestResult {
    let e = env()?;
    let mut w = AuditWriter::open(&e.log, &e.key, 1 << 30)?;
    assert_eq!(w.append(&ev(0))?, 1);
    assert_eq!(w.append(&ev(1))?, 2);
    w.flush()?;
    let r = verify(&e.log, &e.key)?;
    assert!(r.ok(), "{:?}", r.first_break);
    assert_eq!((r.files, r.lines), (1, 2));
    let entries = read_entries(&e.log)?;
    assert_eq!(entries[1].event, ev(1));
    assert_eq!(entries[0].ts.len(), "2026-01-01T00:00:00.000000Z".len());
    let text = std::fs::read_to_string(e.log.join(CURRENT_FILE))?;
    assert!(text.starts_with("{\"seq\":1,\"ts\":\""));
    assert!(text.contains(&format!("\"prev\":\"{}\"", "0".repeat(64))));
    Ok(())
}

#[test]
fn key_created_0600_in_0700_dirs() -> TestResult {
    let e = env()?;
    write_n(&e, 1, 1 << 20)?;
    assert_eq!(mode(&e.key)?, 0o600);
    assert_eq!(mode(e.key.parent().ok_or("no parent")?)?, 0o700);
    assert_eq!(mode(&e.log)?, 0o700);
    assert_eq!(mode(&e.log.join(CURRENT_FILE))?, 0o600);
    let text = std::fs::read_to_string(&e.key)?;
    assert_eq!(text.trim().len(), 64);
    Ok(())
}

#[test]
fn key_0644_refused_with_chmod_hint() -> TestResult {
    let e = env()?;
    write_n(&e, 1, 1 << 20)?;
    std::fs::set_permissions(&e.key, std::fs::Permissions::from_mode(0o644))?;
    let err = AuditWriter::open(&e.log, &e.key, 1 << 20)
        .err()
        .ok_or("accepted")?;
    let msg = err.to_string();
    assert!(matches!(
        err,
        AuditError::KeyPermissions { mode: 0o644, .. }
    ));
    assert!(
        msg.contains(&format!("chmod 600 {}", e.key.display())),
        "{msg}"
    );
    assert!(verify(&e.log, &e.key).is_err());
    Ok(())
}

#[test]
fn bad_key_content_is_not_echoed() -> TestResult {
    let e = env()?;
    write_n(&e, 1, 1 << 20)?;
    std::fs::write(&e.key, "SECRETSECRET\n")?;
    let err = AuditWriter::open(&e.log, &e.key, 1 << 20)
        .err()
        .ok_or("accepted")?;
    assert!(!err.to_string().contains("SECRET"), "{err}");
    Ok(())
}

#[test]
fn rotation_keeps_one_chain() -> TestResult {
    let e = env()?;
    write_n(&e, 50, 1000)?;
    let files = read::all_files(&e.log)?;
    assert!(files.len() > 5, "{} files", files.len());
    for f in &files {
        assert!(std::fs::metadata(f)?.len() <= 1000);
        assert_eq!(mode(f)?, 0o600);
    }
    let first = files.first().ok_or("no files")?;
    assert!(first.ends_with("audit-00000000000000000001.jsonl"));
    let r = verify(&e.log, &e.key)?;
    assert!(r.ok(), "{:?}", r.first_break);
    assert_eq!((r.files, r.lines), (files.len(), 50));
    assert_eq!(seqs(&read_entries(&e.log)?), (1..=50).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn reopen_continues_chain() -> TestResult {
    let e = env()?;
    write_n(&e, 3, 1 << 20)?;
    write_n(&e, 3, 1 << 20)?;
    let r = verify(&e.log, &e.key)?;
    assert!(r.ok(), "{:?}", r.first_break);
    assert_eq!(seqs(&read_entries(&e.log)?), vec![1, 2, 3, 4, 5, 6]);
    // And after a crash between rotating and writing the new file.
    write_n(&e, 30, 1000)?;
    std::fs::remove_file(e.log.join(CURRENT_FILE))?;
    let before = read_entries(&e.log)?.len() as u64;
    write_n(&e, 2, 1000)?;
    let r = verify(&e.log, &e.key)?;
    assert!(r.ok(), "{:?}", r.first_break);
    assert_eq!(r.lines, before + 2);
    Ok(())
}

#[test]
fn torn_tail_truncated_and_recorded() -> TestResult {
    let e = env()?;
    write_n(&e, 3, 1 << 20)?;
    let cur = e.log.join(CURRENT_FILE);
    let mut f = std::fs::OpenOptions::new().append(true).open(&cur)?;
    std::io::Write::write_all(&mut f, b"{\"seq\":4,\"ts\":\"20")?;
    drop(f);
    let r = verify(&e.log, &e.key)?;
    assert_eq!(r.first_break.map(|b| b.line), Some(4));
    write_n(&e, 1, 1 << 20)?;
    let r = verify(&e.log, &e.key)?;
    assert!(r.ok(), "{:?}", r.first_break);
    let entries = read_entries(&e.log)?;
    assert_eq!(seqs(&entries), vec![1, 2, 3, 4, 5]);
    assert_eq!(entries[3].event["kind"], "audit.torn_tail_truncated");
    assert_eq!(entries[3].event["bytes"], 17);
    Ok(())
}

#[test]
fn reopen_refuses_bad_last_mac() -> TestResult {
    let e = env()?;
    write_n(&e, 3, 1 << 20)?;
    let cur = e.log.join(CURRENT_FILE);
    let text = std::fs::read_to_string(&cur)?;
    std::fs::write(&cur, text.replace("\"i\":2", "\"i\":7"))?;
    let err = AuditWriter::open(&e.log, &e.key, 1 << 20)
        .err()
        .ok_or("accepted")?;
    assert!(err.to_string().contains("MAC mismatch"), "{err}");
    Ok(())
}

#[test]
fn tail_across_rotation() -> TestResult {
    let e = env()?;
    write_n(&e, 40, 1000)?;
    assert_eq!(seqs(&tail(&e.log, 0)?), Vec::<u64>::new());
    assert_eq!(seqs(&tail(&e.log, 1)?), vec![40]);
    let in_current = std::fs::read_to_string(e.log.join(CURRENT_FILE))?
        .lines()
        .count();
    let n = in_current + 3; // reaches back over a rotation boundary
    assert_eq!(
        seqs(&tail(&e.log, n)?),
        ((41 - n as u64)..=40).collect::<Vec<_>>()
    );
    assert_eq!(tail(&e.log, 1000)?.len(), 40);
    Ok(())
}

#[test]
fn tail_reads_lines_longer_than_a_block() -> TestResult {
    let e = env()?;
    let mut w = AuditWriter::open(&e.log, &e.key, 1 << 30)?;
    let mut big = ev(0);
    big.insert("blob".into(), "x".repeat(200_000).into());
    for _ in 0..3 {
        w.append(&big)?;
    }
    w.flush()?;
    drop(w);
    assert_eq!(seqs(&tail(&e.log, 2)?), vec![2, 3]);
    write_n(&e, 1, 1 << 30)?;
    assert!(verify(&e.log, &e.key)?.ok());
    Ok(())
}

#[test]
fn audit_log_from_threads_is_contiguous() -> TestResult {
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 64 * 1024)?);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    log.record(&EventLine::from_map(&ev(t * 1000 + i)));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked")?;
    }
    log.flush()?;
    assert_eq!(read_entries(&e.log)?.len(), 2000);
    log.record(&EventLine::from_map(&ev(9)));
    log.clone().shutdown()?;
    log.record(&EventLine::from_map(&ev(10))); // thread gone: logged and dropped, no panic
    assert!(log.flush().is_err());
    let r = verify(&e.log, &e.key)?;
    assert!(r.ok(), "{:?}", r.first_break);
    assert_eq!(seqs(&read_entries(&e.log)?), (1..=2001).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn read_entries_names_bad_line() -> TestResult {
    let e = env()?;
    write_n(&e, 3, 1 << 20)?;
    let cur = e.log.join(CURRENT_FILE);
    let text = std::fs::read_to_string(&cur)?;
    std::fs::write(&cur, text.replacen("{\"seq\":2", "{\"seq\":x", 1))?;
    let err = read_entries(&e.log).err().ok_or("accepted")?;
    let msg = err.to_string();
    assert!(
        msg.contains("line 2") && msg.contains(&cur.display().to_string()),
        "{msg}"
    );
    Ok(())
}

#[test]
fn missing_key_with_existing_log_refused() -> TestResult {
    let e = env()?;
    write_n(&e, 2, 1 << 20)?;
    std::fs::remove_file(&e.key)?;
    let err = AuditWriter::open(&e.log, &e.key, 1 << 20)
        .err()
        .ok_or("accepted")?;
    assert!(err.to_string().contains("restore the key"), "{err}");
    assert!(!e.key.exists());
    Ok(())
}
