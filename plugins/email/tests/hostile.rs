//! A hostile IMAP server cannot stall or exhaust the plugin.
//!
//! Rule: whatever an IMAP server sends (a literal of 99,999,999,999 bytes, ten
//! thousand nested parentheses, a greeting that never ends, a byte a second, a
//! flood of `* 1 EXISTS`), the call ends within a bounded time with a structured,
//! retriable `UPSTREAM_*` error, the plugin's memory stays bounded, and its next
//! call against the real server (dovecot) works.
//!
//! Each test starts the plugin against dovecot through a forwarder, then switches
//! the forwarder to the hostile stand-in (`support::imap_standin`), and back. The
//! heap is counted by this binary's allocator (the SDK's `testing::heap`); the
//! tests take turns so that each measures only itself.

mod support;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use carapace_plugin_sdk::testing::heap::{self, CountingAllocator};
use carapace_plugin_sdk::testing::Harness;
use serde_json::{json, Value};
use support::imap_standin::{Hostile, StandIn};
use support::proxy::Proxy;
use support::{mail, World, USER};

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

/// The tests take turns, so the heap counts are each test's own.
static TURN: Mutex<()> = Mutex::new(());

/// Seconds one command may take in these tests.
const COMMAND_SECS: u64 = 2;
/// Longest a hostile call may take: a cut session, a reconnection and one command
/// (or its connection) timing out, with room for a loaded machine.
const BOUNDED: Duration = Duration::from_secs(4 * COMMAND_SECS);
/// Most the heap may grow during a hostile call.
const HEAP_GROWTH: usize = 64 << 20;

struct Setup {
    world: World,
    plugin: Harness,
    proxy: Proxy,
    real_port: u16,
}

/// The plugin, logged in to dovecot (implicit TLS, or STARTTLS when `starttls`)
/// through a forwarder.
fn setup(name: &str, starttls: bool) -> Option<Setup> {
    let world = World::start()?;
    world.append(
        USER,
        "INBOX",
        &mail("a@example.test", "Real mail", "x"),
        false,
    );
    let real_port = if starttls {
        world.dovecot.imap_port
    } else {
        world.dovecot.imaps_port
    };
    let proxy = Proxy::start(real_port);
    let mut config = world.config();
    config["imap"]["port"] = json!(proxy.port);
    config["imap"]["security"] = json!(if starttls { "starttls" } else { "tls" });
    config["timeout_secs"] = json!(COMMAND_SECS);
    let plugin = world.plugin_with(name, config);
    plugin
        .call("email_search", json!({}))
        .expect("real server first");
    Some(Setup {
        world,
        plugin,
        proxy,
        real_port,
    })
}

/// Switches to a stand-in doing `hostile`, calls `tool`, checks the error, the
/// time and the heap, switches back and checks the next call works.
fn refused_in_bounds(setup: &Setup, hostile: Hostile, tool: &str, arguments: Value) {
    let standin = StandIn::start(&setup.world.certs, hostile);
    setup.proxy.switch(standin.port);
    let started = Instant::now();
    let (answer, grew) = heap::peak_growth(|| setup.plugin.call(tool, arguments));
    let took = started.elapsed();
    let error = answer.expect_err("the hostile server's answer is refused");
    assert!(
        error.message.starts_with("UPSTREAM_"),
        "{hostile:?}: {error:?}"
    );
    assert!(error.retriable(), "{hostile:?}: {error:?}");
    assert!(took < BOUNDED, "{hostile:?} took {took:?}");
    assert!(
        grew < HEAP_GROWTH,
        "{hostile:?}: the heap grew by {grew} bytes"
    );
    setup.proxy.switch(setup.real_port);
    drop(standin);
    let found = setup
        .plugin
        .call("email_search", json!({}))
        .expect("the next call reaches dovecot");
    assert_eq!(found["messages"][0]["subject"], "Real mail");
}

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The plugin (named `name`, over STARTTLS when `starttls`) against each of
/// `cases` in turn: a hostile server and the call it answers.
fn each_refused(name: &str, starttls: bool, cases: &[(Hostile, &str)]) {
    let _turn = turn();
    let Some(setup) = setup(name, starttls) else {
        return;
    };
    for (hostile, tool) in cases {
        let arguments = if *tool == "email_read" {
            json!({"id": "INBOX/7/1"})
        } else {
            json!({})
        };
        refused_in_bounds(&setup, *hostile, tool, arguments);
    }
}

#[test]
fn a_huge_literal_is_refused_at_its_announcement() {
    // 99,999,999,999 does not fit the parser's u32 (it refuses it itself); four
    // billion does, and would be read to the end.
    each_refused(
        "literal",
        false,
        &[
            (Hostile::HugeLiteral(99_999_999_999), "email_read"),
            (Hostile::HugeLiteral(4_000_000_000), "email_read"),
        ],
    );
}

#[test]
fn ten_thousand_nested_parentheses_are_refused_without_a_stack_overflow() {
    each_refused("nesting", false, &[(Hostile::DeepNesting, "email_read")]);
}

#[test]
fn a_greeting_that_never_ends_a_byte_a_second_and_a_flood_of_exists_are_refused() {
    each_refused(
        "endless",
        false,
        &[
            (Hostile::EndlessGreeting, "email_search"),
            (Hostile::Dribble, "email_search"),
            (Hostile::ExistsFlood, "email_search"),
        ],
    );
}

#[test]
fn before_starttls_endless_lines_an_endless_greeting_and_a_dribble_are_refused() {
    each_refused(
        "cleartext",
        true,
        &[
            (Hostile::EndlessLinesBeforeTls, "email_search"),
            (Hostile::EndlessGreetingBeforeTls, "email_search"),
            (Hostile::DribbleBeforeTls, "email_search"),
        ],
    );
}

#[test]
fn unsolicited_responses_do_not_pile_up_between_calls() {
    let _turn = turn();
    let Some(setup) = setup("unsolicited", false) else {
        return;
    };
    let standin = StandIn::start(&setup.world.certs, Hostile::ExistsBeforeSearch(50_000));
    setup.proxy.switch(standin.port);
    setup
        .plugin
        .call("email_search", json!({}))
        .expect("a normal answer after the flood");
    let baseline = heap::in_use();
    for _ in 0..20 {
        let found = setup
            .plugin
            .call("email_search", json!({}))
            .expect("a normal answer after the flood");
        assert_eq!(found["messages"][0]["subject"], "from the stand-in");
    }
    let kept = heap::in_use().saturating_sub(baseline);
    assert!(
        kept < 16 << 20,
        "20 calls with 50,000 unsolicited responses each left {kept} bytes in use"
    );
}

/// A move whose answer is lost is not made twice: the server moved the message,
/// the connection ended before it said so, and the agent hears "may or may not",
/// not "try again" (a retry on a new session would move, or copy, it again).
#[test]
fn a_move_whose_answer_is_lost_is_made_once() {
    let _turn = turn();
    let Some(setup) = setup("lost-move", false) else {
        return;
    };
    let standin = StandIn::start(&setup.world.certs, Hostile::LostMoveAnswer);
    setup.proxy.switch(standin.port);
    // The kept session is now the stand-in's, alive when the move starts.
    setup
        .plugin
        .call("email_list_folders", json!({}))
        .expect("listed");
    let error = setup
        .plugin
        .call(
            "email_move",
            json!({"id": "INBOX/7/1", "folder": "Archive"}),
        )
        .expect_err("no answer");
    assert!(!error.retriable(), "{error:?}");
    assert!(error.message.contains("may or may not"), "{error:?}");
    assert_eq!(standin.moves.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Without MOVE, a move is a COPY and an EXPUNGE of that one message, which needs
/// UIDPLUS (a plain EXPUNGE would remove every message flagged deleted): a server
/// with neither is refused before anything is copied.
#[test]
fn a_server_without_move_or_uidplus_is_not_copied_to() {
    let _turn = turn();
    let Some(setup) = setup("no-uidplus", false) else {
        return;
    };
    let standin = StandIn::start(&setup.world.certs, Hostile::NoMoveNoUidplus);
    setup.proxy.switch(standin.port);
    let error = setup
        .plugin
        .call(
            "email_move",
            json!({"id": "INBOX/7/1", "folder": "Archive"}),
        )
        .expect_err("refused");
    assert!(!error.retriable(), "{error:?}");
    assert!(error.message.starts_with("UPSTREAM_REFUSED:"), "{error:?}");
    assert_eq!(standin.moves.load(std::sync::atomic::Ordering::SeqCst), 0);
}
