//! Issue 15's whole-path figures, measured through the real core, the real `ipc`,
//! the real `carapace-plugin-telegram` process and the loopback stand-in Bot API
//! (`plugins/telegram/tests/support/bot_api.rs`), with a scripted agent in a real
//! podman container. A benchmark, not a timed test: it prints p50 and p90 and
//! asserts nothing about time (only that each round did what it should).
//!
//! ```sh
//! cargo build -p carapace-plugin-telegram
//! CARAPACE_REQUIRE_PODMAN=1 cargo test --test telegram_bench -- --ignored --nocapture
//! ```
//! (`CARAPACE_BENCH_ROUNDS=N` for other than 30 rounds; a first round is a warm-up
//! and not counted.) Each round runs the three paths one after the other, so that
//! the machine's load weighs alike on all three:
//!
//! 1. **`confirmation.requested` -> card at the stand-in** (target p50 ≤ 50 ms): an
//!    open session (no origin chat) calls `send_telegram` to the owner's chat, which
//!    needs approval. From the `ts` of the core's `confirmation.requested` audit line
//!    (stamped right after `Core::publish` hands the event to the bus and the
//!    plugins; publishing takes microseconds) to the stand-in recording the card's
//!    `sendMessage` (its request read and checked). Also printed: from the `ipc`
//!    process's spawn, an upper bound.
//! 2. **Inbound update -> agent container started** (target p50 ≤ 300 ms): from the
//!    stand-in building the `getUpdates` answer that carries the owner's message to
//!    (a) the `ts` of the core's `agent.started` audit line (stamped once `podman
//!    run` is spawned, before the container runs) and (b) podman's own `start`
//!    event of the container (written once the OCI runtime started it).
//! 3. **Tap -> the waiting `ipc` call returns** (target p50 ≤ 50 ms): from the
//!    stand-in building the `getUpdates` answer that carries the owner's tap on
//!    Approve to the `ipc` process's exit (its output read to the end and its exit
//!    status collected); the approved call itself (one `sendMessage`) is inside.
//!
//! The stand-in's instants are monotonic; the core's and podman's are wall clock.
//! Each round takes the pair `(Instant, SystemTime)` at its start and places the
//! stand-in's instants on the wall clock from it (a round lasts about a second).

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

#[path = "../plugins/telegram/tests/support/bot_api.rs"]
mod bot_api;

#[allow(dead_code)]
#[path = "fixtures/telegram_core.rs"]
mod telegram_core;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bot_api::{BotApi, Call};
use common::TestCore;
use serde_json::{json, Value};
use telegram_core::{button, core_with, telegram_config, token, OWNER};

/// Rounds measured unless `CARAPACE_BENCH_ROUNDS` says otherwise.
const ROUNDS: usize = 30;

/// The stand-in's monotonic clock placed on the wall clock at one instant.
struct Clock {
    at: Instant,
    wall: SystemTime,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            at: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The wall-clock time of `at`.
    fn wall(&self, at: Instant) -> SystemTime {
        if at >= self.at {
            self.wall + (at - self.at)
        } else {
            self.wall - (self.at - at)
        }
    }
}

/// `later - earlier` in milliseconds, negative if `later` is not.
fn ms(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    }
}

/// An RFC 3339 timestamp (`2026-12-03T20:19:52.753659642Z`, or with an offset).
fn parse_rfc3339(text: &str) -> SystemTime {
    let (date, time) = text.split_once('T').expect("RFC 3339 date and time");
    let (time, offset_secs) = match time.strip_suffix('Z') {
        Some(time) => (time, 0),
        None => {
            let at = time.rfind(['+', '-']).expect("an offset");
            let (h, m) = time[at + 1..].split_once(':').expect("offset HH:MM");
            let secs =
                h.parse::<i64>().expect("hours") * 3600 + m.parse::<i64>().expect("mins") * 60;
            (
                &time[..at],
                if &time[at..at + 1] == "-" {
                    -secs
                } else {
                    secs
                },
            )
        }
    };
    let number = |s: &str| s.parse::<i64>().expect("a number");
    let date: Vec<i64> = date.split('-').map(number).collect();
    let (whole, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let hms: Vec<i64> = whole.split(':').map(number).collect();
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let (y, m, d) = (date[0] - i64::from(date[1] <= 2), date[1], date[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2] - offset_secs;
    let nanos: u32 = format!("{fraction:0<9}")[..9].parse().expect("fraction");
    UNIX_EPOCH + Duration::new(u64::try_from(secs).expect("after 1970"), nanos)
}

/// The `n`-th (from 0) audit entry whose event `wanted` accepts, once the
/// asynchronous writer has written it.
fn audit_entry(core: &TestCore, what: &str, n: usize, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<Value> = core
            .audit_entries()
            .into_iter()
            .filter(|e| wanted(&e["event"]))
            .collect();
        if let Some(entry) = found.into_iter().nth(n) {
            return entry;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} in the audit: {}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The time of podman's `start` event of `container`.
fn podman_started(container: &str) -> SystemTime {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("podman")
            .args(["events", "--stream=false", "--since", "10m"])
            .args(["--filter", "event=start", "--filter"])
            .arg(format!("container={container}"))
            .args(["--format", "json"])
            .output()
            .expect("podman events");
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|line| serde_json::from_str::<Value>(line).ok());
        if let Some(time) = first.as_ref().and_then(|e| e["Time"].as_str()) {
            return parse_rfc3339(time);
        }
        assert!(
            Instant::now() < deadline,
            "podman never started {container}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The approval cards the stand-in took (successful `sendMessage`s).
fn cards(calls: &[Call]) -> Vec<&Call> {
    calls
        .iter()
        .filter(|c| c.method == "sendMessage" && c.status == 200)
        .filter(|c| {
            c.params["text"]
                .as_str()
                .is_some_and(|t| t.contains("Approval needed"))
        })
        .collect()
}

/// The agents' answers the stand-in took (replies to a message).
fn answers(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| c.method == "sendMessage" && c.status == 200)
        .filter(|c| c.params.get("reply_parameters").is_some())
        .count()
}

/// The successful calls of `method`.
fn count_ok(calls: &[Call], method: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.method == method && c.status == 200)
        .count()
}

/// One of a round's figures.
type Figure = fn(&Round) -> f64;

/// One round's figures, in milliseconds.
#[derive(Default)]
struct Round {
    requested_to_card: f64,
    ipc_spawn_to_card: f64,
    tap_to_ipc_exit: f64,
    update_to_agent_started: f64,
    update_to_container_start: f64,
}

/// Path 1 and 3: a call that needs approval, its card, the owner's tap on Approve.
fn approval_round(
    core: &TestCore,
    api: &BotApi,
    session: &common::TestSession,
    round: usize,
    into: &mut Round,
) {
    let clock = Clock::now();
    let before = api.calls();
    let (cards_before, edits_before) = (cards(&before).len(), count_ok(&before, "editMessageText"));
    let text = format!("bench round {round}");
    let arguments = json!({"chat": OWNER.to_string(), "text": text}).to_string();
    let spawned = Instant::now();
    let call = {
        let session = session.clone();
        std::thread::spawn(move || {
            let run = session.ipc_with(&["send_telegram", &arguments], None, "60");
            (run, Instant::now())
        })
    };
    let calls = api.wait_calls(Duration::from_secs(30), |calls| {
        cards(calls).len() > cards_before
    });
    let card_at = cards(&calls)[cards_before].at;
    let card = api
        .shown_in(OWNER)
        .into_iter()
        .rev()
        .find(|m| m.keyboard.is_some() && m.text.contains(&text))
        .expect("this round's card, with its buttons");
    let approve = button(&card, 0);
    let id = approve.split(':').nth(1).expect("a:<id>:<hash>").to_owned();
    let requested = audit_entry(core, "confirmation.requested", 0, |e| {
        e["kind"] == "confirmation.requested" && e["confirmation"] == id.as_str()
    });
    let requested = parse_rfc3339(requested["ts"].as_str().expect("ts"));
    into.requested_to_card = ms(requested, clock.wall(card_at));
    into.ipc_spawn_to_card = ms(clock.wall(spawned), clock.wall(card_at));

    api.tap(OWNER, card.message_id, OWNER, "Ann", &approve);
    let tap = api.last_update_id();
    let (run, exited) = call.join().expect("the ipc thread");
    assert_eq!(run.result()["messages"], 1, "the approved call ran");
    let served = api.served_at(tap).expect("the tap was served");
    into.tap_to_ipc_exit = exited.duration_since(served).as_secs_f64() * 1e3;
    // The card's edit lands before the next path starts.
    api.wait_calls(Duration::from_secs(30), |calls| {
        count_ok(calls, "editMessageText") > edits_before
    });
}

/// Path 2: the owner's message, until the agent's container is started; then the
/// round waits for the answer and for the container to be gone.
fn message_round(core: &TestCore, api: &BotApi, round: usize, into: &mut Round) {
    let clock = Clock::now();
    let started_before = core
        .audit_events()
        .iter()
        .filter(|e| e["kind"] == "agent.started")
        .count();
    let answers_before = answers(&api.calls());
    let update = api.message(
        OWNER,
        OWNER,
        "Ann",
        &format!("round {round}: list my tools"),
    );
    let started = audit_entry(core, "agent.started", started_before, |e| {
        e["kind"] == "agent.started"
    });
    let served = clock.wall(api.served_at(update).expect("the message was served"));
    into.update_to_agent_started = ms(served, parse_rfc3339(started["ts"].as_str().expect("ts")));
    let container = started["event"]["container"].as_str().expect("container");
    into.update_to_container_start = ms(served, podman_started(container));
    api.wait_calls(Duration::from_secs(60), |calls| {
        answers(calls) > answers_before
    });
    let session = started["event"]["session"].as_str().expect("session");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !harness::containers_of(session).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the container of {session} stayed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Prints one path's p50 and p90 (nearest rank), min and max.
fn report(path: &str, target: &str, samples: &[f64]) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    eprintln!(
        "{path}: p50 {:.1} ms, p90 {:.1} ms (min {:.1}, max {:.1}; {} rounds){target}",
        rank(0.5),
        rank(0.9),
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len()
    );
}

#[test]
#[ignore = "a benchmark: cargo test --test telegram_bench -- --ignored --nocapture"]
fn telegram_whole_paths_are_measured() {
    if !harness::podman_or_skip("telegram whole-path benchmark") {
        return;
    }
    let rounds = std::env::var("CARAPACE_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS);
    let rootfs = harness::agent_rootfs();
    let token = token();
    let api = BotApi::start(&token);
    let config =
        harness::config_with(rootfs.path(), "stream_agent.sh", 20, "") + &telegram_config(&api.url);
    let core = core_with(&config, &token);
    let session = core.open_session("main");
    let mut measured = Vec::new();
    // Round 0 warms podman, the plugin and the caches up; it is not counted.
    for round in 0..=rounds {
        let mut figures = Round::default();
        approval_round(&core, &api, &session, round, &mut figures);
        message_round(&core, &api, round, &mut figures);
        if round > 0 {
            measured.push(figures);
        }
    }
    eprintln!("\nTelegram whole paths (real core, plugin process, stand-in Bot API, podman):");
    let paths: [(&str, &str, Figure); 5] = [
        (
            "confirmation.requested (audit ts) -> card at the stand-in",
            "  [target p50 <= 50 ms]",
            |r| r.requested_to_card,
        ),
        (
            "  ipc spawned -> card at the stand-in (upper bound)",
            "",
            |r| r.ipc_spawn_to_card,
        ),
        (
            "update served -> agent.started (audit ts; podman run spawned)",
            "",
            |r| r.update_to_agent_started,
        ),
        (
            "update served -> container started (podman start event)",
            "  [target p50 <= 300 ms]",
            |r| r.update_to_container_start,
        ),
        (
            "tap served -> the waiting ipc exits (approved call inside)",
            "  [target p50 <= 50 ms]",
            |r| r.tap_to_ipc_exit,
        ),
    ];
    for (path, target, figure) in paths {
        report(
            path,
            target,
            &measured.iter().map(figure).collect::<Vec<f64>>(),
        );
    }
}
