//! What a hostile CalDAV server sends in its XML is bounded, and so is one call.
//!
//! Rule: a huge multistatus, elements nested ten thousand deep or an element with
//! 200,000 attributes end in a structured error at once, with the plugin's heap
//! grown by less than [`HEAP_GROWTH`]; the answers of all the calendars one call
//! asks count together, and so do the recurrence steps of all its events.
//!
//! The server is a loopback stand-in (no real server sends these). The heap is
//! counted by this binary's allocator (the SDK's `testing::heap`); the tests take
//! turns so each measures only itself.

mod support;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use carapace_plugin_calendar::expand::{expand, Limits};
use carapace_plugin_calendar::ics::parse_object;
use carapace_plugin_sdk::testing::heap::{self, CountingAllocator};
use serde_json::{json, Value};
use support::standin::StandIn;
use support::{utc, vcalendar, Plugin};

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

static TURN: Mutex<()> = Mutex::new(());

/// Most the heap may grow in one refused call (the answer itself is read whole
/// first: up to 32 MiB).
const HEAP_GROWTH: usize = 64 << 20;

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Calls `calendar_list` on a plugin whose server answers `body`; the error, the
/// time it took and how much the heap grew.
fn list_against(body: Vec<u8>) -> (carapace_plugin_sdk::JsonRpcError, Duration, usize) {
    let standin = StandIn::serve(207, body);
    let plugin = Plugin::start(
        json!({"url": standin.url, "username": "alice", "timeout_secs": 20}),
        "stand-in-password",
    );
    assert_eq!(plugin.init, Ok(json!({})));
    let started = Instant::now();
    let (answer, grew) = heap::peak_growth(|| plugin.call("calendar_list", json!({})));
    let took = started.elapsed();
    (answer.expect_err("refused"), took, grew)
}

fn assert_refused(body: Vec<u8>, what: &str) {
    let (error, took, grew) = list_against(body);
    assert_eq!(
        error.data_str("code"),
        Some("HANDLER_ERROR"),
        "{what}: {error:?}"
    );
    assert!(
        error.message.contains("unreadable"),
        "{what}: {}",
        error.message
    );
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
    assert!(grew < HEAP_GROWTH, "{what}: the heap grew by {grew} bytes");
}

#[test]
fn a_huge_multistatus_is_refused_with_bounded_memory() {
    let _turn = turn();
    let mut body = String::from(r#"<multistatus xmlns="DAV:">"#);
    body.push_str(&"<response><href>/c/x.ics</href></response>".repeat(300_000));
    body.push_str("</multistatus>");
    assert_refused(body.into_bytes(), "300,000 responses");
}

#[test]
fn nesting_ten_thousand_deep_is_refused_with_bounded_memory() {
    let _turn = turn();
    let mut body = String::from(r#"<multistatus xmlns="DAV:">"#);
    body.push_str(&"<a>".repeat(3_000_000));
    assert_refused(body.into_bytes(), "3,000,000 open elements");
}

#[test]
fn an_element_with_200_000_attributes_is_refused_at_once() {
    let _turn = turn();
    let attributes: Vec<String> = (0..200_000).map(|i| format!("a{i}=\"\"")).collect();
    let body = format!(
        r#"<multistatus xmlns="DAV:"><response {}/></multistatus>"#,
        attributes.join(" ")
    );
    assert_refused(body.into_bytes(), "200,000 attributes");
}

/// A calendar home with `calendars` calendars, each answering with this same
/// body, which holds `objects` events of about 4 KiB.
fn home(calendars: usize, objects: usize) -> String {
    let escape = carapace_plugin_calendar::dav::escape;
    let mut body = String::from(
        r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/</href><propstat><prop><C:calendar-home-set><href>/home/</href></C:calendar-home-set></prop><status>HTTP/1.1 200 OK</status></propstat></response>"#,
    );
    for c in 0..calendars {
        body.push_str(&format!(
            "<response><href>/cal{c}/</href><propstat><prop><resourcetype><collection/><C:calendar/></resourcetype><displayname>Cal {c}</displayname></prop><status>HTTP/1.1 200 OK</status></propstat></response>"
        ));
    }
    for o in 0..objects {
        let event = vcalendar(&[&format!(
            "BEGIN:VEVENT\nUID:e{o}\nDTSTART:20261210T100000Z\nDTEND:20261210T110000Z\nSUMMARY:x\nDESCRIPTION:{}\nEND:VEVENT",
            "y".repeat(4000)
        )]);
        body.push_str(&format!(
            "<response><href>/cal0/e{o}.ics</href><propstat><prop><getetag>\"{o}\"</getetag><C:calendar-data>{}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>",
            escape(&event)
        ));
    }
    body.push_str("</multistatus>");
    body
}

#[test]
fn the_answers_of_all_the_calendars_of_one_call_count_together() {
    let _turn = turn();
    // 50 calendars answering 1 MiB each: 50 MiB for one call.
    let standin = StandIn::serve(207, home(50, 256).into_bytes());
    let plugin = Plugin::start(
        json!({"url": standin.url, "username": "alice", "timeout_secs": 20}),
        "stand-in-password",
    );
    let window = json!({"from": "2026-12-01", "to": "2026-12-31"});
    let error = plugin
        .call("calendar_list_events", window.clone())
        .map(|answer| answer["count"].clone())
        .expect_err("over the call's share");
    assert!(
        error.message.contains("over 33554432 bytes"),
        "{}",
        error.message
    );
    // One of them alone is read.
    let mut one = window;
    one["calendar"] = json!("Cal 3");
    let answer: Value = plugin.ok("calendar_list_events", one);
    assert!(
        answer["count"].as_u64().is_some_and(|n| n > 0),
        "{}",
        answer["count"]
    );
}

#[test]
fn recurrence_steps_are_counted_over_all_the_events_of_a_call() {
    let _turn = turn();
    let series: Vec<String> = (0..10)
        .map(|i| {
            format!(
                "BEGIN:VEVENT\nUID:s{i}\nDTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT"
            )
        })
        .collect();
    let series: Vec<&str> = series.iter().map(String::as_str).collect();
    let (events, skipped) = parse_object(&vcalendar(&series));
    assert!(skipped.is_empty(), "{skipped:?}");
    let (from, to) = (utc(2026, 12, 1), utc(2027, 1, 1));
    let limits = Limits {
        steps_per_event: 50_000,
        steps_per_call: 120_000,
        per_query: 5_000,
    };
    let found = expand(&events, chrono_tz::Tz::UTC, from, to, limits);
    assert_eq!(found.steps, 120_000, "two series whole, a third in part");
    assert_eq!(found.truncated.len(), 10, "every series says it was cut");
}
