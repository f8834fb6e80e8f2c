//! The plugin's own share of issue 15's latency targets, in process against the Bot
//! API stand-in on loopback (real HTTP, the plugin's real client and threads; the
//! core played by the SDK harness):
//!
//! - `card`: `confirmation.requested` handed to the plugin -> the card's
//!   `sendMessage` received by the stand-in (issue target for the whole path,
//!   core included: p50 <= 50 ms);
//! - `inbound`: an update queued at the stand-in while a long poll waits ->
//!   `message.inbound` received by the core (the plugin's part of "inbound update
//!   -> agent container started", p50 <= 300 ms, most of which is the container);
//! - `tap`: a button tap queued at the stand-in -> `confirm/resolve` received by
//!   the core (the plugin's part of "tap -> the waiting ipc call returns", p50 <=
//!   50 ms).
//! - `budget`: `budget.exhausted` handed to the plugin -> the budget card's
//!   `sendMessage` received by the stand-in (its own lane, like approval cards);
//! - `extend`: a tap on "Allow N more today" queued at the stand-in ->
//!   `budget/extend` received by the core.
//!
//! Prints percentiles; asserts nothing. `cargo bench -p carapace-plugin-telegram
//! --bench telegram [-- ROUNDS]` (default 200 rounds each).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Bot, OWNER, WAIT};

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let (touched, resolved) = mpsc::channel::<Instant>();
    let (asked, extended) = mpsc::channel::<Instant>();
    let bot = Bot::start_with(|mut config| {
        config["history_per_chat"] = json!(0);
        config
    });
    bot.harness.on_request(move |method, _| {
        match method {
            "confirm/resolve" => {
                let _ = touched.send(Instant::now());
            }
            "budget/extend" => {
                let _ = asked.send(Instant::now());
            }
            _ => {}
        }
        Ok(json!({"cap": 1}))
    });
    // Warm the connection pool and the long poll.
    bot.owner_says("warm up");

    let mut card = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let id = format!("00000000-0000-4000-8000-{n:012}");
        let started = Instant::now();
        bot.event(
            "confirmation.requested",
            json!({"id": id, "tool": "send_mail", "plugin": "mail", "group": "main",
                   "session": "s", "arguments": {}, "args_hash": "RBNvo1WzZ4oRRq0W9-hkng",
                   "requested_at": "2026-12-03T10:00:00Z",
                   "origin": {"kind": "prompt", "plugin": null, "sender": null, "trust": "owner"},
                   "display": {"tool": "send_mail", "group": "main", "session": "s",
                               "arguments": "{\"to\":\"bo@example.org\",\"text\":\"hi\"}"}}),
        );
        bot.api.wait_ok("sendMessage", n + 1, WAIT);
        card.push(started.elapsed());
    }

    let mut inbound = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let text = format!("inbound {n}");
        let started = Instant::now();
        bot.api.message(OWNER, OWNER, "Ann", &text);
        bot.published(|p| p["text"] == text.as_str())
            .expect("published");
        inbound.push(started.elapsed());
    }

    let cards = bot.api.shown_in(OWNER);
    let mut tap = Vec::with_capacity(rounds);
    for shown in cards.iter().take(rounds) {
        let data = shown.keyboard.as_ref().expect("buttons")[0][1]["callback_data"]
            .as_str()
            .expect("data")
            .to_owned();
        let started = Instant::now();
        bot.api.tap(OWNER, shown.message_id, OWNER, "Ann", &data);
        let at = resolved.recv_timeout(WAIT).expect("resolve asked");
        tap.push(at.saturating_duration_since(started));
    }

    let mut budget = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let started = Instant::now();
        bot.event(
            "budget.exhausted",
            json!({"group": "main", "task": format!("t{n}"), "used": 120, "reserved": 0, "cap": 100}),
        );
        bot.api.wait_ok("sendMessage", rounds + n + 1, WAIT);
        budget.push(started.elapsed());
    }

    let budget_cards = bot.api.shown_in(OWNER);
    let mut extend = Vec::with_capacity(rounds);
    for shown in budget_cards.iter().skip(rounds).take(rounds) {
        let data = shown.keyboard.as_ref().expect("buttons")[0][0]["callback_data"]
            .as_str()
            .expect("data")
            .to_owned();
        let started = Instant::now();
        bot.api.tap(OWNER, shown.message_id, OWNER, "Ann", &data);
        let at = extended.recv_timeout(WAIT).expect("extend asked");
        extend.push(at.saturating_duration_since(started));
    }

    for (name, mut samples) in [
        ("card", card),
        ("inbound", inbound),
        ("tap", tap),
        ("budget", budget),
        ("extend", extend),
    ] {
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        println!(
            "{name:>8}: n={} p50={:?} p90={:?} p99={:?} max={:?}",
            samples.len(),
            at(0.5),
            at(0.9),
            at(0.99),
            samples.last().copied().unwrap_or(Duration::ZERO)
        );
    }
}
