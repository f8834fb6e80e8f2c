//! Hostile input from the calendar side: a recurrence rule made to never end, and a
//! server that sends malformed XML or iCalendar (a loopback stand-in, the one place a
//! stand-in is used: no real server sends these).
//!
//! Rule: expansion is bounded per event and per call and says when it stopped; an
//! unreadable answer is a structured error or a `skipped` entry, never a panic or a
//! hang, and a readable event beside a broken one still arrives.

mod support;

use std::time::{Duration, Instant};

use carapace_plugin_calendar::expand::{expand, Limits};
use carapace_plugin_calendar::ics::parse_object;
use chrono::{TimeZone, Utc};
use serde_json::json;
use support::standin::StandIn;
use support::{vcalendar, Plugin, Radicale};

#[test]
fn a_rule_that_never_ends_is_walked_a_bounded_number_of_steps() {
    let text = vcalendar(&[
        "BEGIN:VEVENT\nUID:forever\nDTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY;COUNT=1000000000\nEND:VEVENT",
        "BEGIN:VEVENT\nUID:never\nDTSTART:20260201T100000Z\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\nEND:VEVENT",
        "BEGIN:VEVENT\nUID:dense\nDTSTART:20261201T000000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT",
    ]);
    let (events, skipped) = parse_object(&text);
    assert!(skipped.is_empty(), "{skipped:?}");
    let from = Utc
        .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
        .single()
        .expect("from");
    let to = Utc
        .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
        .single()
        .expect("to");
    let started = Instant::now();
    let found = expand(&events, chrono_tz::Tz::UTC, from, to, Limits::default());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        found.truncated.contains(&"forever".to_owned()),
        "{:?}",
        found.truncated
    );
    assert!(found.query_truncated);
    assert_eq!(found.instances.len(), Limits::default().per_query);
    assert!(found.instances.iter().all(|i| i.event.uid == "dense"));
}

#[test]
fn a_dense_series_on_a_real_server_is_cut_and_says_so() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let calendar = server.mkcalendar("work", "Work");
    server.put(
        &calendar,
        "dense",
        &vcalendar(&["BEGIN:VEVENT\nUID:every-minute\nDTSTAMP:20261101T000000Z\nSUMMARY:spam\nDTSTART:20261201T000000Z\nDURATION:PT1M\nRRULE:FREQ=MINUTELY\nEND:VEVENT"]),
    );
    let plugin = server.plugin();
    let started = Instant::now();
    let answer = plugin.ok(
        "calendar_list_events",
        json!({"from": "2026-12-01", "to": "2026-12-31"}),
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(answer["truncated"], true);
    let count = answer["count"].as_u64().expect("count");
    assert!(
        count > 500 && count <= Limits::default().per_query as u64,
        "{count}"
    );
    assert!(answer.to_string().len() < 1 << 20);
}

fn plugin_at(standin: &StandIn) -> Plugin {
    let config = json!({"url": standin.url, "username": "alice", "timeout_secs": 5});
    Plugin::start(config, "stand-in-password")
}

#[test]
fn malformed_xml_is_a_structured_error() {
    for body in [
        &b"<multistatus xmlns='DAV:'><response><href>/x</href>"[..],
        b"<html><body>Sign in</body></html>",
        b"<!DOCTYPE d [<!ENTITY a '0123456789'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]><multistatus xmlns='DAV:'>&b;</multistatus>",
        &"<a>".repeat(200_000).into_bytes(),
        b"\x00\x01\x02 not text at all",
    ] {
        let standin = StandIn::serve(207, body.to_vec());
        let plugin = plugin_at(&standin);
        assert_eq!(plugin.init, Ok(json!({})), "initialize defers a server it cannot read");
        let err = plugin.call("calendar_list", json!({})).expect_err("unreadable");
        assert_eq!(err.data_str("code"), Some("HANDLER_ERROR"), "{err:?}");
        assert!(!err.retriable());
        assert!(err.message.len() < 1000, "{}", err.message);
    }
}

#[test]
fn a_broken_event_is_skipped_and_its_neighbour_still_arrives() {
    let good = vcalendar(&["BEGIN:VEVENT\nUID:good\nDTSTAMP:20261101T000000Z\nSUMMARY:Readable\nDTSTART:20261210T100000Z\nDTEND:20261210T110000Z\nEND:VEVENT"]);
    let bad_zone = vcalendar(&[
        "BEGIN:VEVENT\nUID:zoned\nDTSTART;TZID=Custom Zone 7:20261210T100000\nEND:VEVENT",
    ]);
    let bad_rule = vcalendar(&[
        "BEGIN:VEVENT\nUID:rule\nDTSTART:20261210T100000Z\nRRULE:FREQ=FORTNIGHTLY\nEND:VEVENT",
    ]);
    let escape = carapace_plugin_calendar::dav::escape;
    let body = format!(
        r#"<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<response><href>/cal/</href><propstat><prop><resourcetype><collection/><C:calendar/></resourcetype><displayname>Stand-in</displayname></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/cal/garbage.ics</href><propstat><prop><getetag>"1"</getetag><C:calendar-data>BEGIN:VCALENDAR
BEGIN:VEVENT
this is not iCalendar ]]&gt; &lt;x&gt;</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/cal/good.ics</href><propstat><prop><getetag>"2"</getetag><C:calendar-data>{}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/cal/zone.ics</href><propstat><prop><C:calendar-data>{}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/cal/rule.ics</href><propstat><prop><C:calendar-data>{}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>http://evil.test/x.ics</href><propstat><prop><C:calendar-data>{}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#,
        escape(&good),
        escape(&bad_zone),
        escape(&bad_rule),
        escape(&good.replace("UID:good", "UID:elsewhere")),
    );
    let standin = StandIn::serve(207, body.into_bytes());
    let plugin = plugin_at(&standin);
    assert_eq!(plugin.init, Ok(json!({})));
    let answer = plugin.ok(
        "calendar_list_events",
        json!({"from": "2026-12-01", "to": "2026-12-31"}),
    );
    let uids: Vec<&str> = answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["uid"].as_str().expect("uid"))
        .collect();
    assert!(uids.contains(&"good"), "{answer}");
    let reasons = answer["skipped"].to_string();
    assert!(reasons.contains("not valid iCalendar"), "{answer}");
    assert!(reasons.contains("Custom Zone 7"), "{answer}");
    assert!(reasons.contains("RRULE"), "{answer}");
}

#[test]
fn a_refusing_server_is_a_structured_error() {
    for (status, retriable) in [(500, true), (503, true), (404, false), (403, false)] {
        let standin = StandIn::serve(status, b"nope".to_vec());
        let plugin = plugin_at(&standin);
        assert_eq!(plugin.init, Ok(json!({})), "HTTP {status}");
        let err = plugin
            .call("calendar_list", json!({}))
            .expect_err("refused");
        assert_eq!(err.data_str("code"), Some("HANDLER_ERROR"));
        assert_eq!(err.retriable(), retriable, "HTTP {status}: {err:?}");
    }
    let standin = StandIn::serve(401, b"".to_vec());
    let plugin = plugin_at(&standin);
    let err = plugin.init.clone().expect_err("auth");
    assert_eq!(err.data_str("category"), Some("AUTH_ERROR"));
}
