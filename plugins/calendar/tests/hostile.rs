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
use serde_json::json;
use support::standin::StandIn;
use support::{utc, vcalendar, Plugin, Radicale};

#[test]
fn a_rule_that_never_ends_is_walked_a_bounded_number_of_steps() {
    let text = vcalendar(&[
        "BEGIN:VEVENT\nUID:forever\nDTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY;COUNT=1000000000\nEND:VEVENT",
        "BEGIN:VEVENT\nUID:never\nDTSTART:20260201T100000Z\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\nEND:VEVENT",
        "BEGIN:VEVENT\nUID:dense\nDTSTART:20261201T000000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT",
    ]);
    let (events, skipped) = parse_object(&text);
    assert!(skipped.is_empty(), "{skipped:?}");
    let (from, to) = (utc(2026, 12, 1), utc(2027, 1, 1));
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

#[test]
fn odd_rules_and_dates_expand_or_skip_without_a_panic() {
    let rules = [
        "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO",
        "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR",
        "FREQ=DAILY;INTERVAL=65535",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=YEARLY;BYYEARDAY=-366,366",
        "FREQ=DAILY;UNTIL=99991231T235959Z",
        "FREQ=DAILY;UNTIL=19000101",
        "FREQ=DAILY;COUNT=4294967295",
        "FREQ=WEEKLY;WKST=XX",
        "FREQ=MONTHLY;BYMONTHDAY=-31,31,0",
        "FREQ=HOURLY;BYHOUR=25",
        "FREQ=SECONDLY;BYSECOND=60",
        "FREQ=YEARLY;BYMONTH=13",
        "FREQ=DAILY;;;=;UNTIL=",
        "",
    ];
    let starts = [
        "DTSTART:20261201T100000Z",
        "DTSTART:99991231T235959Z",
        "DTSTART:00010101T000000Z",
        "DTSTART;VALUE=DATE:20261201",
        "DTSTART:20261201T100000",
        "DTSTART;TZID=Europe/Berlin:20260329T023000",
    ];
    let (from, to) = (utc(2026, 11, 1), utc(2027, 2, 1));
    for start in starts {
        for rule in rules {
            let text = vcalendar(&[&format!(
                "BEGIN:VEVENT\nUID:odd\n{start}\nDURATION:PT1H\nRRULE:{rule}\nEXDATE:20261202T100000Z\nRDATE;VALUE=DATE:20261224\nEND:VEVENT"
            )]);
            let outcome = std::panic::catch_unwind(|| {
                let (events, _) = parse_object(&text);
                let found = expand(
                    &events,
                    chrono_tz::Tz::Europe__Berlin,
                    from,
                    to,
                    Limits::default(),
                );
                found.instances.len() + found.skipped.len()
            });
            assert!(outcome.is_ok(), "panicked on {start} / {rule}");
        }
    }
}

#[test]
fn a_redirect_to_another_site_is_not_followed_with_the_password() {
    // Where the password would go: a listener that records whether anyone came.
    let trap = std::net::TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let trap_url = format!("http://{}/", trap.local_addr().expect("addr"));
    trap.set_nonblocking(true).expect("nonblocking");
    let standin = StandIn::serve_with(301, &format!("location: {trap_url}\r\n"), Vec::new());
    let plugin = plugin_at(&standin);
    assert_eq!(plugin.init, Ok(json!({})));
    let err = plugin
        .call("calendar_list", json!({}))
        .expect_err("not followed");
    assert!(err.message.contains("not followed"), "{err:?}");
    assert!(
        trap.accept().is_err(),
        "the plugin connected to the other site"
    );
}
