//! Tests for the background writer: waking it, back-pressure, errors reported to
//! `flush`, and writing out what is queued when the last handle goes.
//! Test-only; must never touch anything outside its temp directories.

use super::tests::{env, ev, seqs, TestResult};
use super::thread::{NAP, QUEUE_BYTES};
use super::*;
use std::time::{Duration, Instant};

/// Waits (without flushing) until the log holds `n` entries.
fn wait_for_entries(e: &super::tests::Env, n: usize) -> Result<Vec<AuditEntry>, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entries = read_entries(&e.log).map_err(|e| e.to_string())?;
        if entries.len() >= n {
            return Ok(entries);
        }
        if Instant::now() > deadline {
            return Err(format!("{} of {n} entries written", entries.len()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_asleep_writer_is_woken_by_the_next_event() -> TestResult {
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 1 << 20)?);
    log.record(&EventLine::from_map(&ev(1)));
    wait_for_entries(&e, 1)?;
    // Long past its nap: the writer now sleeps until an event wakes it.
    std::thread::sleep(NAP * 20);
    log.record(&EventLine::from_map(&ev(2)));
    let entries = wait_for_entries(&e, 2)?;
    assert_eq!(entries[1].event["i"], 2);
    Ok(())
}

#[test]
fn events_are_stamped_when_recorded_not_when_written() -> TestResult {
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 1 << 20)?);
    log.pause(true);
    log.record(&EventLine::new(
        "x",
        Some(("s", "g")),
        &serde_json::json!({"n": 1}),
    ));
    std::thread::sleep(Duration::from_millis(20));
    let after_recording = super::format::Stamp::now();
    log.pause(false);
    log.flush()?;
    let entries = read_entries(&e.log)?;
    let ts = entries[0].ts.as_bytes();
    assert_eq!(ts.len(), "2026-11-27T20:10:00.123456Z".len());
    // Same layout, so byte order is time order.
    assert!(ts < after_recording.as_bytes(), "stamped when written");
    assert_eq!(entries[0].event["session"], "s");
    Ok(())
}

#[test]
fn a_full_queue_never_blocks_a_recorder_it_loses_the_event_and_the_log_is_unavailable() -> TestResult
{
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 1 << 30)?);
    // A stalled disk: the writer takes nothing.
    log.pause(true);
    let event = EventLine::new(
        "big",
        None,
        &serde_json::json!({"padding": "p".repeat(64 * 1024)}),
    );
    let event_bytes = event.as_bytes().len() + 64;
    let fits = QUEUE_BYTES / event_bytes + 1;
    let events = fits + 16;
    let recorder = {
        let log = log.clone();
        std::thread::spawn(move || (0..events).map(|_| log.record(&event)).collect::<Vec<_>>())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recorder.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        recorder.is_finished(),
        "a recorder waited for a stalled writer"
    );
    let tickets = recorder.join().map_err(|_| "recorder panicked")?;
    assert!(log.queued_bytes() < QUEUE_BYTES + event_bytes);
    assert!(!log.available(), "events were lost and calls still run");
    let health = log.health();
    assert!(!health.available);
    assert!(health.lost >= 16, "{health:?}");
    assert!(
        health.reason.as_deref().unwrap_or("").contains("queue"),
        "{health:?}"
    );
    let lost = tickets.last().copied().ok_or("no tickets")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let waited = rt.block_on(log.wait_written(lost, Duration::from_secs(5)));
    assert!(waited.is_err(), "a lost event was reported written");

    // The disk comes back: what was queued is written, then the loss.
    log.pause(false);
    log.flush()?;
    assert!(log.available(), "{:?}", log.health());
    let entries = read_entries(&e.log)?;
    let written = entries.iter().filter(|e| e.event["kind"] == "big").count();
    let back = entries
        .iter()
        .find(|e| e.event["kind"] == "audit.available")
        .ok_or("no audit.available line")?;
    assert_eq!(back.event["lost"], (events - written) as u64);
    assert!(written + 16 <= events, "{written} of {events} written");
    assert!(verify(&e.log, &e.key)?.ok());
    Ok(())
}

#[test]
fn more_than_the_queue_holds_is_all_written_in_order() -> TestResult {
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 1 << 30)?);
    // 4 threads × 300 events of 16 KiB: 19 MiB through a 4 MiB queue, each
    // thread waiting for the writer every 50 events (3.2 MiB at most queued).
    let padding = "p".repeat(16 * 1024);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (log, padding) = (log.clone(), padding.clone());
            std::thread::spawn(move || {
                for i in 0..300 {
                    let fields = serde_json::json!({"t": t, "i": i, "padding": padding});
                    log.record(&EventLine::new("big", None, &fields));
                    if i % 50 == 49 {
                        log.flush().expect("flush");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked")?;
    }
    log.flush()?;
    let entries = read_entries(&e.log)?;
    assert_eq!(seqs(&entries), (1..=1200).collect::<Vec<_>>());
    for t in 0..4u64 {
        let mine: Vec<_> = entries
            .iter()
            .filter(|e| e.event["t"] == t)
            .map(|e| e.event["i"].as_u64())
            .collect();
        assert_eq!(mine, (0..300).map(Some).collect::<Vec<_>>(), "thread {t}");
    }
    assert!(verify(&e.log, &e.key)?.ok());
    Ok(())
}

#[test]
fn a_write_error_reaches_every_flush_and_the_log_is_unavailable_until_a_write_works() -> TestResult
{
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 400)?);
    log.record(&EventLine::from_map(&ev(1)));
    log.flush()?;
    // The next rotation would overwrite this file: the writer refuses, and says so.
    let squatter = e.log.join("audit-00000000000000000001.jsonl");
    std::fs::write(&squatter, "")?;
    log.pause(true);
    for i in 2..6 {
        log.record(&EventLine::from_map(&ev(i)));
    }
    let flushers: Vec<_> = (0..2)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || log.flush().map_err(|e| e.to_string()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    log.pause(false);
    for flusher in flushers {
        let err = flusher.join().map_err(|_| "flusher panicked")?.err();
        let err = err.ok_or("a failed rotation was not reported")?;
        assert!(err.contains("refusing to overwrite"), "{err}");
    }
    assert!(
        !log.available(),
        "a failed write must make the log unavailable"
    );
    let health = log.health();
    assert!(!health.available && health.reason.is_some(), "{health:?}");
    std::fs::remove_file(&squatter)?;
    // The writer retries on its own; nothing has to be recorded to recover.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.available() {
        assert!(Instant::now() < deadline, "the log never recovered");
        std::thread::sleep(Duration::from_millis(20));
    }
    log.record(&EventLine::from_map(&ev(7)));
    log.flush()?;
    let entries = read_entries(&e.log)?;
    assert_eq!(entries.last().map(|e| e.event["i"].clone()), Some(7.into()));
    let back = entries
        .iter()
        .find(|e| e.event["kind"] == "audit.available")
        .ok_or("the recovery is not in the log")?;
    assert_eq!(
        back.event["lost"], 4,
        "the four events that could not be chained"
    );
    assert!(verify(&e.log, &e.key)?.ok());
    Ok(())
}

/// Whether this process still has the file at `path` open.
fn holds_open(path: &std::path::Path) -> Result<bool, std::io::Error> {
    for fd in std::fs::read_dir("/proc/self/fd")? {
        if std::fs::read_link(fd?.path()).is_ok_and(|target| target == path) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[test]
fn dropping_the_last_handle_writes_out_the_queue_and_ends_the_writer() -> TestResult {
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 1 << 20)?);
    let other = log.clone();
    log.pause(true);
    for i in 0..100 {
        log.record(&EventLine::from_map(&ev(i)));
    }
    drop(log);
    other.record(&EventLine::from_map(&ev(100)));
    drop(other);
    let entries = wait_for_entries(&e, 101)?;
    assert_eq!(entries.len(), 101);
    assert!(verify(&e.log, &e.key)?.ok());
    // The writer thread ended: it no longer holds the log file open.
    let current = e.log.join(CURRENT_FILE).canonicalize()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while holds_open(&current)? {
        assert!(Instant::now() < deadline, "the writer still runs");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[test]
fn after_shutdown_records_are_dropped_and_flush_fails() -> TestResult {
    let e = env()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 1 << 20)?);
    let other = log.clone();
    log.record(&EventLine::from_map(&ev(1)));
    log.shutdown()?;
    other.record(&EventLine::from_map(&ev(2)));
    assert!(other.flush().is_err());
    assert!(
        !other.available(),
        "a stopped writer cannot take calls' lines"
    );
    assert_eq!(seqs(&read_entries(&e.log)?), vec![1]);
    Ok(())
}

#[test]
fn a_ticket_is_reported_written_only_once_its_line_is_in_the_file() -> TestResult {
    let e = env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let log = AuditLog::start(AuditWriter::open(&e.log, &e.key, 400)?);
    let ticket = log.record(&EventLine::from_map(&ev(1)));
    runtime.block_on(log.wait_written(ticket, Duration::from_secs(10)))?;
    assert_eq!(
        seqs(&read_entries(&e.log)?),
        vec![1],
        "written means in the file"
    );
    // The next line needs a rotation that cannot happen: its ticket fails, at once.
    let squatter = e.log.join("audit-00000000000000000001.jsonl");
    std::fs::write(&squatter, "")?;
    log.pause(true);
    let doomed = log.record(&EventLine::from_map(&ev(2)));
    log.pause(false);
    let started = Instant::now();
    let outcome = runtime.block_on(log.wait_written(doomed, Duration::from_secs(10)));
    assert!(
        outcome.is_err(),
        "a line that was not written was reported written"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the failure must not wait for the timeout"
    );
    assert!(!log.available());
    // While unavailable a new ticket fails without waiting for a write.
    let refused = log.record(&EventLine::from_map(&ev(3)));
    assert!(runtime
        .block_on(log.wait_written(refused, Duration::from_secs(10)))
        .is_err());
    std::fs::remove_file(&squatter)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.available() {
        assert!(Instant::now() < deadline, "the log never recovered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let fine = log.record(&EventLine::from_map(&ev(4)));
    runtime.block_on(log.wait_written(fine, Duration::from_secs(10)))?;
    assert!(verify(&e.log, &e.key)?.ok());
    Ok(())
}
