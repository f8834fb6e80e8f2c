//! Scheduled instant -> `task.triggered` on the plugin's stdout, with 10,000
//! tasks stored: the real plugin process (release build), its SQLite file on
//! disk, the system clock.
//!
//! Fills the database through the library (`Store::create`, as `schedule_task`
//! does): 10,000 tasks in 50 groups, most of them yearly patterns in a dozen
//! zones (stored, never due during the run), then `SINGLES` one-shot tasks one
//! second apart and a burst of `BURST` due at the same second. Starts the
//! binary, and for each `task.triggered` line read takes the time it arrived
//! minus the slot's instant, answering each (an acknowledged publish) at once
//! as the core does once it has the fire. Prints percentiles; asserts nothing.
//!
//! `cargo bench -p carapace-plugin-scheduler --bench scheduler` (or
//! `bash bench/scheduler.sh`). Target: p50 <= 50 ms.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use carapace_plugin_scheduler::{Misfire, NewTask, Store, Trust};
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

const TASKS: usize = 10_000;
const SINGLES: usize = 30;
const BURST: usize = 10;
const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "Europe/London",
    "Pacific/Auckland",
    "Asia/Kathmandu",
    "America/Denver",
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// A task as `schedule_task` would store it, made by the owner.
fn new_task(
    group: &str,
    cron: Option<String>,
    at: Option<Timestamp>,
    zone: &str,
    next: Timestamp,
    prompt: String,
) -> NewTask {
    NewTask {
        group: group.to_owned(),
        cron,
        at,
        tz: zone.to_owned(),
        prompt,
        misfire: Misfire::RunOnce,
        trust: Trust::Owner,
        created_by: Some("bench".into()),
        creator: None,
        next_at: Some(next),
    }
}

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("csched-bench-")
        .tempdir_in(std::env::temp_dir())
        .expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let filling = Instant::now();
    let start = Timestamp::now();
    let due = SINGLES + BURST;
    for n in 0..TASKS - due {
        let zone = ZONES[n % ZONES.len()];
        let cron = format!("{} {} 1 1 *", n % 60, n % 24);
        let timing =
            carapace_plugin_scheduler::Timing::parse(Some(&cron), None, zone).expect("timing");
        let next = timing.next_after(start).expect("next");
        let task = new_task(
            &format!("g{}", n % 50),
            Some(cron),
            None,
            zone,
            next,
            format!("yearly report number {n}"),
        );
        store.create(&task, start, u32::MAX).expect("create");
    }
    // The due ones count from the end of the fill (seconds), so none is late at the start.
    let first = Timestamp::from_second(Timestamp::now().as_second() + 5).expect("range");
    let mut slots = Vec::new();
    for n in 0..due {
        let offset = if n < SINGLES {
            n as i64
        } else {
            SINGLES as i64 + 1
        };
        let at = first
            .checked_add(SignedDuration::from_secs(offset))
            .expect("range");
        slots.push(at);
        let task = new_task("g0", None, Some(at), "UTC", at, format!("one-shot {n}"));
        store.create(&task, start, u32::MAX).expect("create");
    }
    drop(store);
    println!(
        "filled {TASKS} tasks in {:.1} s",
        filling.elapsed().as_secs_f64()
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_carapace-plugin-scheduler"))
        .env_clear()
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the plugin starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"plugin": "scheduler", "version": "0.1.0",
                                 "config": {"max_tasks_per_group": 100000}, "data_dir": dir.path()}});
    writeln!(stdin, "{init}").expect("write");
    let mut single = Vec::new();
    let mut burst = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(SINGLES as u64 + 30);
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        let arrived = Timestamp::now();
        let message: Value = serde_json::from_str(&line).expect("JSON");
        // Answered as the core answers: the paused groups (none), and each
        // acknowledged publish at once (the fire's id taken).
        let answer = match message["method"].as_str() {
            Some("scheduler/paused_groups") => json!({"generation": 0, "groups": []}),
            Some("event/publish") => json!({}),
            _ => continue,
        };
        if let Some(id) = message.get("id") {
            let reply = json!({"jsonrpc": "2.0", "id": id, "result": answer});
            writeln!(stdin, "{reply}").expect("write");
        }
        if message["method"] != "event/publish" {
            continue;
        }
        let payload = &message["params"]["payload"];
        let slot: Timestamp = payload["scheduled_at"]
            .as_str()
            .unwrap_or("")
            .parse()
            .expect("slot");
        let late = arrived.duration_since(slot).as_secs_f64() * 1000.0;
        let n: usize = payload["prompt"]
            .as_str()
            .and_then(|p| p.strip_prefix("one-shot "))
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        if n < SINGLES {
            single.push(late);
        } else {
            burst.push(late);
        }
        if single.len() + burst.len() == due || Instant::now() > deadline {
            break;
        }
    }
    let shutdown = json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": {}});
    let _ = writeln!(stdin, "{shutdown}");
    drop(stdin);
    let _ = child.wait();
    for (name, mut samples) in [
        ("one due at a time", single),
        ("10 due at the same second", burst),
    ] {
        samples.sort_by(|a, b| a.total_cmp(b));
        if samples.is_empty() {
            println!("{name}: no fires seen");
            continue;
        }
        println!(
            "slot -> task.triggered, {name}, {} fires, {TASKS} tasks stored: p50 {:.2} ms, p90 {:.2} ms, max {:.2} ms",
            samples.len(),
            percentile(&samples, 0.5),
            percentile(&samples, 0.9),
            samples[samples.len() - 1]
        );
    }
}
