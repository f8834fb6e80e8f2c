//! `calendar_delete_event` deletes exactly the object the agent looked at, against
//! a real radicale.
//!
//! Rule: the person approves a delete on a card that shows the call's arguments,
//! so the arguments must name what goes: one calendar, the uid, the event's title
//! and start (and `whole_series` for a repeating event). A mismatch in any of them
//! is `VALIDATION_FAILED` naming it and deletes nothing; an object changed since
//! the agent's listing (another etag) is a retriable conflict and stays; the same
//! uid in another calendar is never touched.

mod support;

use serde_json::{json, Value};
use support::{vcalendar, Plugin, Radicale};

const DENTIST: &str = "BEGIN:VEVENT
UID:same-uid@example.com
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Berlin:20261210T150000
DTEND;TZID=Europe/Berlin:20261210T160000
SUMMARY:Dentist
END:VEVENT";

const WEEKLY: &str = "BEGIN:VEVENT
UID:weekly@example.com
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Berlin:20261201T090000
DTEND;TZID=Europe/Berlin:20261201T093000
RRULE:FREQ=WEEKLY;COUNT=5
SUMMARY:Standup
END:VEVENT";

/// The events of December 2026, all calendars.
fn december(plugin: &Plugin) -> Vec<Value> {
    plugin.ok(
        "calendar_list_events",
        json!({"from": "2026-12-01", "to": "2026-12-31"}),
    )["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn refused(plugin: &Plugin, arguments: Value) -> (String, Option<String>, bool) {
    let error = plugin
        .call("calendar_delete_event", arguments)
        .expect_err("refused");
    (
        error.data_str("code").unwrap_or("").to_owned(),
        error.data_str("field").map(str::to_owned),
        error.retriable(),
    )
}

#[test]
fn the_same_uid_in_two_calendars_is_deleted_only_in_the_one_named() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let work = server.mkcalendar("work", "Work");
    let home = server.mkcalendar("home", "Home");
    server.put(&work, "dentist", &vcalendar(&[DENTIST]));
    server.put(&home, "dentist", &vcalendar(&[DENTIST]));
    let plugin = server.plugin();
    let before = december(&plugin);
    assert_eq!(before.len(), 2, "{before:?}");
    let in_work = before
        .iter()
        .find(|e| e["calendar"] == "Work")
        .expect("the Work copy");
    assert_eq!(in_work["start"], "2026-12-10T15:00:00+01:00");
    assert!(in_work["etag"].is_string(), "{in_work}");

    let deleted = plugin.ok(
        "calendar_delete_event",
        json!({"calendar": "Work", "uid": "same-uid@example.com", "title": "Dentist",
               "start": in_work["start"], "etag": in_work["etag"]}),
    );
    assert_eq!(deleted["deleted"], 1);
    assert_eq!(deleted["calendar"], "Work");
    let after = december(&plugin);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["calendar"], "Home");
    assert_eq!(after[0]["uid"], "same-uid@example.com");
}

#[test]
fn a_wrong_title_start_etag_calendar_or_series_flag_deletes_nothing() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let work = server.mkcalendar("work", "Work");
    server.put(&work, "dentist", &vcalendar(&[DENTIST]));
    server.put(&work, "weekly", &vcalendar(&[WEEKLY]));
    let plugin = server.plugin();
    let before = december(&plugin);
    assert_eq!(before.len(), 6, "one event and five standups: {before:?}");
    let dentist = json!({"calendar": "Work", "uid": "same-uid@example.com",
                         "title": "Dentist", "start": "2026-12-10T15:00"});
    let with = |key: &str, value: Value| {
        let mut arguments = dentist.clone();
        arguments[key] = value;
        arguments
    };
    for (arguments, field) in [
        (with("title", json!("Dentist ")), "title"),
        (with("title", json!("Lunch")), "title"),
        (with("start", json!("2026-12-10T16:00")), "start"),
        (with("start", json!("2026-12-10")), "start"),
        (with("start", json!("not a time")), "start"),
        (with("calendar", json!("Nowhere")), "calendar"),
        (with("uid", json!("other@example.com")), "uid"),
    ] {
        let (code, got, _) = refused(&plugin, arguments.clone());
        assert_eq!(
            (code.as_str(), got.as_deref()),
            ("VALIDATION_FAILED", Some(field)),
            "{arguments}"
        );
    }
    // Changed since the listing: the etag the agent holds is not the object's.
    let (_, _, retriable) = refused(&plugin, with("etag", json!("\"stale\"")));
    assert!(retriable, "a conflict is retriable");

    // A repeating event needs whole_series, and its series start.
    let standup = before
        .iter()
        .find(|e| e["title"] == "Standup" && e["start"] == "2026-12-15T09:00:00+01:00")
        .expect("a standup instance");
    assert_eq!(standup["series_start"], "2026-12-01T09:00:00+01:00");
    let series = json!({"calendar": "Work", "uid": "weekly@example.com", "title": "Standup",
                        "start": standup["series_start"]});
    let (code, field, _) = refused(&plugin, series.clone());
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("whole_series"))
    );
    let mut one_instance = series.clone();
    one_instance["start"] = standup["start"].clone();
    one_instance["whole_series"] = json!(true);
    let (_, field, _) = refused(&plugin, one_instance);
    assert_eq!(field.as_deref(), Some("start"));
    assert_eq!(december(&plugin), before, "nothing was deleted");

    let mut whole = series;
    whole["whole_series"] = json!(true);
    let deleted = plugin.ok("calendar_delete_event", whole);
    assert_eq!(deleted["whole_series"], true);
    let after = december(&plugin);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["title"], "Dentist");
}
