//! Windows of events kept between calls, against a real radicale behind a relay
//! that writes down every request the plugin sends.
//!
//! Rule: a kept window is reused only for the same calendar and window, and only
//! while the calendar's ctag is what it was *before* the window was read (the
//! ctag is asked first, so a change racing the read is never hidden). Any change,
//! by this plugin or another client, is seen on the next call; a server without
//! a ctag and `kept_windows = 0` are asked every time. A window asked for the
//! first time is read without a ctag request. A reuse answers exactly what a
//! plugin that keeps nothing answers, also after another client changed one of
//! two calendars, renamed one or gave it a zone for its floating times.

mod support;

use serde_json::{json, Value};
use support::relay::Relay;
use support::{vcalendar, Plugin, Radicale};

fn event(uid: &str, title: &str, day: u32) -> String {
    vcalendar(&[&format!(
        "BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20261101T000000Z\nSUMMARY:{title}\nDTSTART:202612{day:02}T100000Z\nDTEND:202612{day:02}T110000Z\nEND:VEVENT"
    )])
}

fn titles(answer: &Value) -> Vec<String> {
    answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["title"].as_str().expect("title").to_owned())
        .collect()
}

/// The plugin talking to `server` through `relay`, with `extra` config.
fn plugin(server: &Radicale, relay: &Relay, extra: Value) -> Plugin {
    let mut config = server.config();
    config["url"] = json!(format!("{}/", relay.url));
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    let plugin = server.plugin_with(config, &server.password);
    assert_eq!(plugin.init, Ok(json!({})), "initialize");
    plugin
}

fn december() -> Value {
    json!({"from": "2026-12-01", "to": "2026-12-31"})
}

#[test]
fn a_window_asked_again_is_reused_until_anyone_changes_the_calendar() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let calendar = server.mkcalendar("work", "Work");
    server.put(&calendar, "a", &event("a", "Standup", 3));
    server.put(&calendar, "b", &event("b", "Review", 4));
    let relay = Relay::to(server.url.trim_start_matches("http://"));
    let plugin = plugin(&server, &relay, json!({}));

    // The first asking of a window reads it, with no ctag request: a window
    // asked once costs what it did before windows were kept.
    let before = relay.methods().len();
    let first = plugin.ok("calendar_list_events", december());
    assert_eq!(titles(&first), ["Standup", "Review"]);
    assert_eq!(relay.methods()[before..], ["REPORT".to_owned()]);
    // The second: the ctag, asked before the REPORT whose answer is kept.
    let second = plugin.ok("calendar_list_events", december());
    assert_eq!(second, first);
    let methods = relay.methods();
    assert_eq!(
        methods[methods.len() - 2..],
        ["PROPFIND".to_owned(), "REPORT".to_owned()],
        "{methods:?}"
    );
    let reports = relay.count("REPORT");

    let again = plugin.ok("calendar_list_events", december());
    assert_eq!(again, first, "a reused window answers exactly the same");
    assert_eq!(relay.count("REPORT"), reports, "the window was reused");
    // Free/busy over the same window reuses it too.
    plugin.ok("calendar_free_busy", december());
    assert_eq!(relay.count("REPORT"), reports);

    // Another client adds an event over HTTP: seen at once.
    server.put(&calendar, "c", &event("c", "Planning", 5));
    let added = plugin.ok("calendar_list_events", december());
    assert_eq!(titles(&added), ["Standup", "Review", "Planning"]);
    assert_eq!(relay.count("REPORT"), reports + 1);

    // Another writer changes a title in the server's storage itself: seen too.
    server.put_file(&calendar, "a", &event("a", "Standup (moved)", 3));
    let changed = plugin.ok("calendar_list_events", december());
    assert_eq!(titles(&changed), ["Standup (moved)", "Review", "Planning"]);

    // Another client deletes one: gone on the next call.
    let (status, _) = server.request("DELETE", &format!("{calendar}b.ics"), &[], "");
    assert_eq!(status, 200);
    let deleted = plugin.ok("calendar_list_events", december());
    assert_eq!(titles(&deleted), ["Standup (moved)", "Planning"]);

    // The plugin's own create and delete are seen on the next call.
    let created = plugin.ok(
        "calendar_create_event",
        json!({"title": "Lunch", "start": "2026-12-06T12:00", "end": "2026-12-06T13:00", "tz": "UTC"}),
    );
    assert_eq!(
        titles(&plugin.ok("calendar_list_events", december())),
        ["Standup (moved)", "Planning", "Lunch"]
    );
    plugin.ok(
        "calendar_delete_event",
        json!({"calendar": "Work", "uid": created["uid"], "title": "Lunch", "start": created["start"]}),
    );
    assert_eq!(
        titles(&plugin.ok("calendar_list_events", december())),
        ["Standup (moved)", "Planning"]
    );
}

#[test]
fn another_window_or_calendar_is_read_anew() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let work = server.mkcalendar("work", "Work");
    let home = server.mkcalendar("home", "Home");
    server.put(&work, "a", &event("a", "Standup", 3));
    server.put(&home, "h", &event("h", "Dentist", 3));
    let relay = Relay::to(server.url.trim_start_matches("http://"));
    let plugin = plugin(&server, &relay, json!({}));

    let work_dec = json!({"from": "2026-12-01", "to": "2026-12-31", "calendar": "Work"});
    for _ in 0..2 {
        assert_eq!(
            titles(&plugin.ok("calendar_list_events", work_dec.clone())),
            ["Standup"]
        );
    }
    let reports = relay.count("REPORT");
    // A window inside the kept one is not the same window: read anew.
    let inner = json!({"from": "2026-12-02", "to": "2026-12-30", "calendar": "Work"});
    assert_eq!(
        titles(&plugin.ok("calendar_list_events", inner)),
        ["Standup"]
    );
    assert_eq!(relay.count("REPORT"), reports + 1);
    // The same window of another calendar is that calendar's.
    let home_dec = json!({"from": "2026-12-01", "to": "2026-12-31", "calendar": "Home"});
    for _ in 0..2 {
        assert_eq!(
            titles(&plugin.ok("calendar_list_events", home_dec.clone())),
            ["Dentist"]
        );
    }
    assert_eq!(relay.count("REPORT"), reports + 3);
    assert_eq!(
        titles(&plugin.ok("calendar_list_events", home_dec)),
        ["Dentist"]
    );
    assert_eq!(relay.count("REPORT"), reports + 3, "reused");
    // Both calendars' windows are kept side by side.
    let before = relay.count("REPORT");
    assert_eq!(
        titles(&plugin.ok("calendar_list_events", work_dec)),
        ["Standup"]
    );
    assert_eq!(relay.count("REPORT"), before);
}

#[test]
fn a_server_without_a_ctag_and_kept_windows_zero_are_asked_every_time() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let calendar = server.mkcalendar("work", "Work");
    server.put(&calendar, "a", &event("a", "Standup", 3));

    let relay = Relay::to(server.url.trim_start_matches("http://"));
    relay.hide_ctag(true);
    let no_ctag = plugin(&server, &relay, json!({}));
    for _ in 0..3 {
        assert_eq!(
            titles(&no_ctag.ok("calendar_list_events", december())),
            ["Standup"]
        );
    }
    assert_eq!(relay.count("REPORT"), 3);
    // Discovery found no ctag, so none is asked before each read.
    let propfinds = relay.count("PROPFIND");
    no_ctag.ok("calendar_list_events", december());
    assert_eq!(relay.count("PROPFIND"), propfinds);

    // A ctag at discovery, none when asked alone later: asked once, then the
    // calendar is read without one.
    let relay = Relay::to(server.url.trim_start_matches("http://"));
    let hiding = plugin(&server, &relay, json!({}));
    hiding.ok("calendar_list", json!({}));
    relay.hide_ctag(true);
    for _ in 0..4 {
        assert_eq!(
            titles(&hiding.ok("calendar_list_events", december())),
            ["Standup"]
        );
    }
    assert_eq!(relay.count("REPORT"), 4);
    assert_eq!(relay.count("PROPFIND") - propfinds_at_start(&relay), 1);

    let relay = Relay::to(server.url.trim_start_matches("http://"));
    let off = plugin(&server, &relay, json!({"kept_windows": 0}));
    for _ in 0..3 {
        assert_eq!(
            titles(&off.ok("calendar_list_events", december())),
            ["Standup"]
        );
    }
    assert_eq!(relay.count("REPORT"), 3);
}

/// The PROPFINDs of discovery and `calendar_list`: those before the first REPORT.
fn propfinds_at_start(relay: &Relay) -> usize {
    relay
        .methods()
        .iter()
        .take_while(|m| *m != "REPORT")
        .filter(|m| *m == "PROPFIND")
        .count()
}

#[test]
fn kept_windows_out_of_range_is_a_config_error() {
    let Some(server) = Radicale::start() else {
        return;
    };
    server.mkcalendar("work", "Work");
    let mut config = server.config();
    config["kept_windows"] = json!(65);
    let plugin = server.plugin_with(config, &server.password);
    let error = plugin.init.expect_err("refused");
    assert!(error.message.contains("kept_windows"), "{error:?}");
}

/// A weekly series in Berlin time with a moved and a removed instance, a
/// floating-time event (read in the calendar's zone), an all-day event and one in
/// UTC starting with one of the other calendar's.
const WORK: [&str; 4] = [
    "BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20261101T000000Z\nSUMMARY:Weekly\nDTSTART;TZID=Europe/Berlin:20261201T090000\nDTEND;TZID=Europe/Berlin:20261201T093000\nRRULE:FREQ=WEEKLY;COUNT=6\nEXDATE;TZID=Europe/Berlin:20261215T090000\nEND:VEVENT\nBEGIN:VEVENT\nUID:weekly\nDTSTAMP:20261101T000000Z\nRECURRENCE-ID;TZID=Europe/Berlin:20261208T090000\nSUMMARY:Weekly (moved)\nDTSTART;TZID=Europe/Berlin:20261208T140000\nDTEND;TZID=Europe/Berlin:20261208T143000\nEND:VEVENT",
    "BEGIN:VEVENT\nUID:floating\nDTSTAMP:20261101T000000Z\nSUMMARY:Floating\nDTSTART:20261203T100000\nDTEND:20261203T110000\nEND:VEVENT",
    "BEGIN:VEVENT\nUID:holiday\nDTSTAMP:20261101T000000Z\nSUMMARY:Holiday\nDTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261227\nEND:VEVENT",
    "BEGIN:VEVENT\nUID:same-time\nDTSTAMP:20261101T000000Z\nSUMMARY:Call\nDTSTART:20261204T100000Z\nDTEND:20261204T110000Z\nEND:VEVENT",
];

/// A daily series, and an event at the same time as one of Work's.
const HOME: [&str; 2] = [
    "BEGIN:VEVENT\nUID:daily\nDTSTAMP:20261101T000000Z\nSUMMARY:Walk\nDTSTART:20261210T070000Z\nDTEND:20261210T080000Z\nRRULE:FREQ=DAILY;COUNT=5\nEND:VEVENT",
    "BEGIN:VEVENT\nUID:same-time\nDTSTAMP:20261101T000000Z\nSUMMARY:Dentist\nDTSTART:20261204T100000Z\nDTEND:20261204T120000Z\nEND:VEVENT",
];

/// `PROPPATCH`es one property of `calendar` as another client would.
fn proppatch(server: &Radicale, calendar: &str, prop: &str) {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>{prop}</D:prop></D:set></D:propertyupdate>"#
    );
    let (status, text) = server.request(
        "PROPPATCH",
        calendar,
        &[("content-type", "application/xml")],
        &body,
    );
    assert_eq!(status, 207, "PROPPATCH {calendar}: {text}");
}

/// Asks each of `asks` of `kept` three times (the first askings of a window
/// read it, the later ones reuse it) and once of `fresh` (which keeps nothing):
/// the answers must be the same every time.
fn same_as_fresh(kept: &Plugin, fresh: &Plugin, asks: &[(&str, Value)]) {
    for (tool, arguments) in asks {
        let want = fresh.ok(tool, arguments.clone());
        for asking in 1..=3 {
            assert_eq!(
                kept.ok(tool, arguments.clone()),
                want,
                "{tool} {arguments}, asking {asking}"
            );
        }
    }
}

#[test]
fn a_reuse_answers_what_a_fresh_read_does_after_any_change() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let work = server.mkcalendar("work", "Work");
    let home = server.mkcalendar("home", "Home");
    for (i, vevent) in WORK.iter().enumerate() {
        server.put(&work, &format!("w{i}"), &vcalendar(&[vevent]));
    }
    for (i, vevent) in HOME.iter().enumerate() {
        server.put(&home, &format!("h{i}"), &vcalendar(&[vevent]));
    }
    let relay = Relay::to(server.url.trim_start_matches("http://"));
    let kept = plugin(&server, &relay, json!({}));
    let mut config = server.config();
    config["kept_windows"] = json!(0);
    let fresh = server.plugin_with(config, &server.password);

    // Every calendar, each alone (by path: the names change below), two windows,
    // both tools over the same windows.
    let mut asks = Vec::new();
    for calendar in [None, Some(work.as_str()), Some(home.as_str())] {
        for (from, to) in [
            ("2026-12-01", "2026-12-31"),
            ("2026-12-03T00:00:00-05:00", "2026-12-12T12:00"),
        ] {
            let mut arguments = json!({"from": from, "to": to});
            if let Some(calendar) = calendar {
                arguments["calendar"] = json!(calendar);
            }
            asks.push(("calendar_list_events", arguments.clone()));
            asks.push(("calendar_free_busy", arguments));
        }
    }
    same_as_fresh(&kept, &fresh, &asks);
    let all = asks[0].1.clone();
    assert_eq!(
        titles(&kept.ok("calendar_list_events", all.clone()))[..4],
        ["Weekly", "Floating", "Call", "Dentist"]
    );
    // Each window is kept now: asked again, nothing is read.
    let reports = relay.count("REPORT");
    for (tool, arguments) in &asks {
        assert_eq!(
            kept.ok(tool, arguments.clone()),
            fresh.ok(tool, arguments.clone())
        );
    }
    assert_eq!(relay.count("REPORT"), reports, "every window reused");

    // Another client changes one calendar of two: the call over both reuses
    // Work's window, reads Home's again, and shows the change.
    server.put_file(
        &home,
        "h1",
        &vcalendar(&[&HOME[1].replace("Dentist", "Dentist (moved)")]),
    );
    same_as_fresh(&kept, &fresh, &asks);
    assert!(titles(&kept.ok("calendar_list_events", all.clone()))
        .contains(&"Dentist (moved)".to_owned()));

    // Another client renames Home and gives Work a zone for its floating
    // times; once the calendars are found again, answers show both, reused or not.
    proppatch(&server, &home, "<D:displayname>Family</D:displayname>");
    proppatch(
        &server,
        &work,
        "<C:calendar-timezone>BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n</C:calendar-timezone>",
    );
    kept.ok("calendar_list", json!({}));
    fresh.ok("calendar_list", json!({}));
    same_as_fresh(&kept, &fresh, &asks);
    let answer = kept.ok("calendar_list_events", all);
    let events = answer["events"].as_array().expect("events");
    let floating = events
        .iter()
        .find(|e| e["uid"] == "floating")
        .expect("the floating event");
    assert_eq!(floating["start"], "2026-12-03T10:00:00-05:00");
    assert!(events
        .iter()
        .any(|e| e["calendar"] == "Family" && e["uid"] == "daily"));
    assert!(events.iter().all(|e| e["calendar"] != "Home"));
}
