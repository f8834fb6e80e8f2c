//! Tests that verification catches tampering and names the file and line.
//! Test-only; must never touch anything outside its temp directories.

use super::tests::{env, ev, write_n, Env, TestResult};
use super::*;
use std::path::{Path, PathBuf};

fn lines(p: &Path) -> Result<Vec<String>, std::io::Error> {
    Ok(std::fs::read_to_string(p)?
        .lines()
        .map(String::from)
        .collect())
}

fn put(p: &Path, lines: &[String]) -> Result<(), std::io::Error> {
    std::fs::write(
        p,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
}

fn broken(e: &Env) -> Result<ChainBreak, Box<dyn std::error::Error>> {
    let r = verify(&e.log, &e.key)?;
    Ok(r.first_break.ok_or("verify passed")?)
}

fn current(e: &Env) -> PathBuf {
    e.log.join(CURRENT_FILE)
}

#[test]
fn tampered_byte_names_file_and_line() -> TestResult {
    let e = env()?;
    write_n(&e, 5, 1 << 20)?;
    let mut l = lines(&current(&e))?;
    l[2] = l[2].replace("\"i\":2", "\"i\":3");
    put(&current(&e), &l)?;
    let b = broken(&e)?;
    assert_eq!(
        (b.file.clone(), b.line, b.reason.as_str()),
        (current(&e), 3, "MAC mismatch")
    );
    assert!(b.to_string().contains("line 3"));
    assert_eq!(verify(&e.log, &e.key)?.lines, 2);
    Ok(())
}

#[test]
fn deleted_line_reported() -> TestResult {
    let e = env()?;
    write_n(&e, 5, 1 << 20)?;
    let mut l = lines(&current(&e))?;
    l.remove(1);
    put(&current(&e), &l)?;
    let b = broken(&e)?;
    assert_eq!((b.line, b.seq), (2, Some(3)));
    assert_eq!(b.reason, "prev does not match previous line's mac");
    Ok(())
}

#[test]
fn reordered_lines_reported() -> TestResult {
    let e = env()?;
    write_n(&e, 5, 1 << 20)?;
    let mut l = lines(&current(&e))?;
    l.swap(1, 2);
    put(&current(&e), &l)?;
    let b = broken(&e)?;
    assert_eq!((b.line, b.seq), (2, Some(3)));
    Ok(())
}

#[test]
fn edited_prev_reported() -> TestResult {
    let e = env()?;
    write_n(&e, 5, 1 << 20)?;
    let mut l = lines(&current(&e))?;
    let at = l[3].find("\"prev\":\"").ok_or("no prev")? + 8;
    let flipped = if &l[3][at..at + 1] == "0" { "1" } else { "0" };
    l[3].replace_range(at..at + 1, flipped);
    put(&current(&e), &l)?;
    let b = broken(&e)?;
    assert_eq!((b.line, b.reason.as_str()), (4, "MAC mismatch"));
    Ok(())
}

#[test]
fn seq_jump_reported() -> TestResult {
    let e = env()?;
    write_n(&e, 2, 1 << 20)?;
    // Forge a correctly MAC'd, correctly chained line with a skipped seq.
    let key = key::load_key(&e.key, false)?;
    let l = lines(&current(&e))?;
    let last = format::parse_line(l[1].as_bytes())?;
    let mut out = Vec::new();
    let event = EventLine::from_map(&ev(9));
    let ts = format::Stamp::now();
    format::encode_line(
        &key,
        &mut out,
        4,
        &last.mac,
        ts.as_bytes(),
        event.as_bytes(),
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(current(&e))?;
    std::io::Write::write_all(&mut f, &out)?;
    let b = broken(&e)?;
    assert_eq!((b.line, b.reason.as_str()), (3, "seq jumps from 2 to 4"));
    Ok(())
}

#[test]
fn tamper_in_rotated_file_names_it() -> TestResult {
    let e = env()?;
    write_n(&e, 30, 1000)?;
    let files = read::all_files(&e.log)?;
    let second = files.get(1).ok_or("no second file")?;
    let mut l = lines(second)?;
    l[1] = l[1].replacen("tool.invoke", "tool.invokf", 1);
    put(second, &l)?;
    let b = broken(&e)?;
    assert_eq!(
        (&b.file, b.line, b.reason.as_str()),
        (second, 2, "MAC mismatch")
    );
    Ok(())
}

#[test]
fn missing_first_file_reported() -> TestResult {
    let e = env()?;
    write_n(&e, 30, 1000)?;
    let first = read::all_files(&e.log)?.remove(0);
    std::fs::remove_file(first)?;
    let b = broken(&e)?;
    assert_eq!(b.line, 1);
    assert!(b.reason.contains("not all zeros"), "{}", b.reason);
    Ok(())
}

#[test]
fn not_json_reported() -> TestResult {
    let e = env()?;
    write_n(&e, 3, 1 << 20)?;
    let mut l = lines(&current(&e))?;
    l.insert(1, "hello".into());
    put(&current(&e), &l)?;
    let b = broken(&e)?;
    assert_eq!(b.line, 2);
    assert!(b.reason.starts_with("not JSON"), "{}", b.reason);
    Ok(())
}
