//! Recurrence expanded by the plugin, against a real radicale: a daily series with an
//! EXDATE and a moved instance, a weekly one across the Europe/Berlin DST change, an
//! all-day series, and the same windows expanded by radicale itself (`<C:expand>`,
//! RFC 4791 §9.6.5) compared instance by instance.
//!
//! Rule: the plugin's instances are exactly the server's (same UIDs, same starts and
//! ends in UTC, same titles), each shown in the event's own zone.

mod support;

use std::collections::BTreeSet;

use carapace_plugin_calendar::ics::{self, When};
use serde_json::{json, Value};
use support::{vcalendar, Radicale};

const DAILY: &str = "BEGIN:VEVENT
UID:daily-standup
DTSTAMP:20261101T000000Z
SUMMARY:Standup
DTSTART;TZID=Europe/Berlin:20261130T093000
DTEND;TZID=Europe/Berlin:20261130T094500
RRULE:FREQ=DAILY;COUNT=10
EXDATE;TZID=Europe/Berlin:20261202T093000
END:VEVENT
BEGIN:VEVENT
UID:daily-standup
DTSTAMP:20261101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261204T093000
SUMMARY:Standup (moved)
DTSTART;TZID=Europe/Berlin:20261204T140000
DTEND;TZID=Europe/Berlin:20261204T143000
END:VEVENT";

const WEEKLY_DST: &str = "BEGIN:VEVENT
UID:weekly-berlin
DTSTAMP:20261001T000000Z
SUMMARY:Weekly review
DTSTART;TZID=Europe/Berlin:20261012T100000
DURATION:PT1H
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20261116T090000Z
END:VEVENT";

const ALL_DAY: &str = "BEGIN:VEVENT
UID:trash-day
DTSTAMP:20261001T000000Z
SUMMARY:Trash day
DTSTART;VALUE=DATE:20261105
DTEND;VALUE=DATE:20261106
RRULE:FREQ=WEEKLY;INTERVAL=2
EXDATE;VALUE=DATE:20261203
END:VEVENT";

const MONTHLY: &str = "BEGIN:VEVENT
UID:monthly-last-friday
DTSTAMP:20261001T000000Z
SUMMARY:Payday drinks
DTSTART:20260130T170000Z
DTEND:20260130T190000Z
RRULE:FREQ=MONTHLY;BYDAY=-1FR
RDATE:20261223T170000Z
END:VEVENT";

const SINGLE: &str = "BEGIN:VEVENT
UID:single-utc
DTSTAMP:20261001T000000Z
SUMMARY:Dentist
DTSTART:20261110T080000Z
DTEND:20261110T090000Z
END:VEVENT";

fn setup(server: &Radicale) -> String {
    let calendar = server.mkcalendar("rec", "Recurring");
    for (name, vevent) in [
        ("daily", DAILY),
        ("weekly", WEEKLY_DST),
        ("allday", ALL_DAY),
        ("monthly", MONTHLY),
        ("single", SINGLE),
    ] {
        server.put(&calendar, name, &vcalendar(&[vevent]));
    }
    calendar
}

fn list(plugin: &support::Plugin, from: &str, to: &str) -> Vec<Value> {
    let answer = plugin.ok("calendar_list_events", json!({"from": from, "to": to}));
    assert_eq!(answer["truncated"], false, "{answer}");
    assert_eq!(answer["skipped"], json!([]), "{answer}");
    answer["events"].as_array().cloned().unwrap_or_default()
}

fn of<'a>(events: &'a [Value], uid: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["uid"] == uid).collect()
}

#[test]
fn a_daily_series_skips_its_exdate_and_moves_its_override() {
    let Some(server) = Radicale::start() else {
        return;
    };
    setup(&server);
    let plugin = server.plugin();
    let events = list(&plugin, "2026-11-30", "2026-12-09");
    let daily = of(&events, "daily-standup");
    let starts: Vec<&str> = daily
        .iter()
        .map(|e| e["start"].as_str().expect("start"))
        .collect();
    assert_eq!(
        starts,
        [
            "2026-11-30T09:30:00+01:00",
            "2026-12-01T09:30:00+01:00",
            "2026-12-03T09:30:00+01:00",
            "2026-12-04T14:00:00+01:00",
            "2026-12-05T09:30:00+01:00",
            "2026-12-06T09:30:00+01:00",
            "2026-12-07T09:30:00+01:00",
            "2026-12-08T09:30:00+01:00",
            "2026-12-09T09:30:00+01:00",
        ],
        "{daily:?}"
    );
    let moved = daily
        .iter()
        .find(|e| e["title"] == "Standup (moved)")
        .expect("override");
    assert_eq!(moved["recurrence_id"], "2026-12-04T09:30:00+01:00");
    assert_eq!(moved["end"], "2026-12-04T14:30:00+01:00");
    assert!(daily
        .iter()
        .all(|e| e["time_zone"] == "Europe/Berlin" && e["recurring"] == true));
}

#[test]
fn a_weekly_series_keeps_its_wall_time_across_the_dst_change() {
    let Some(server) = Radicale::start() else {
        return;
    };
    setup(&server);
    let plugin = server.plugin();
    let events = list(&plugin, "2026-10-01", "2026-11-30");
    let weekly = of(&events, "weekly-berlin");
    let pairs: Vec<(&str, &str)> = weekly
        .iter()
        .map(|e| {
            (
                e["start"].as_str().expect("start"),
                e["start_utc"].as_str().expect("utc"),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("2026-10-12T10:00:00+02:00", "2026-10-12T08:00:00+00:00"),
            ("2026-10-19T10:00:00+02:00", "2026-10-19T08:00:00+00:00"),
            // Berlin leaves summer time on 2026-10-25.
            ("2026-10-26T10:00:00+01:00", "2026-10-26T09:00:00+00:00"),
            ("2026-11-02T10:00:00+01:00", "2026-11-02T09:00:00+00:00"),
            ("2026-11-09T10:00:00+01:00", "2026-11-09T09:00:00+00:00"),
            ("2026-11-16T10:00:00+01:00", "2026-11-16T09:00:00+00:00"),
        ],
        "{weekly:?}"
    );
    assert!(weekly
        .iter()
        .all(|e| e["end_utc"].as_str() > e["start_utc"].as_str()));
}

#[test]
fn an_all_day_series_answers_dates() {
    let Some(server) = Radicale::start() else {
        return;
    };
    setup(&server);
    let plugin = server.plugin();
    let events = list(&plugin, "2026-11-01", "2026-12-31");
    let days: Vec<(&str, &str)> = of(&events, "trash-day")
        .iter()
        .map(|e| {
            assert_eq!(e["all_day"], true);
            (
                e["start"].as_str().expect("start"),
                e["end"].as_str().expect("end"),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-05", "2026-11-06"),
            ("2026-11-19", "2026-11-20"),
            ("2026-12-17", "2026-12-18"),
            ("2026-12-31", "2027-01-01"),
        ]
    );
}

/// (uid, start UTC or date, end UTC or date, title) of radicale's expansion.
fn server_instances(
    server: &Radicale,
    calendar: &str,
    start: &str,
    end: &str,
) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for data in server.expanded(calendar, start, end) {
        let (events, skipped) = ics::parse_object(&data);
        assert!(skipped.is_empty(), "{skipped:?} in {data}");
        for e in events {
            let text = |w: When| match w {
                When::Date(d) => d.to_string(),
                When::Utc(t) => t.to_rfc3339(),
                other => panic!("radicale's expansion is in UTC: {other:?}"),
            };
            let end = match (e.end, e.duration) {
                (Some(end), _) => text(end),
                (None, Some(d)) => match e.start {
                    When::Utc(t) => (t + d).to_rfc3339(),
                    other => panic!("{other:?}"),
                },
                (None, None) => text(e.start),
            };
            out.insert((e.uid.clone(), text(e.start), end, e.title.clone()));
        }
    }
    out
}

/// The same from the plugin.
fn plugin_instances(events: &[Value]) -> BTreeSet<(String, String, String, String)> {
    events
        .iter()
        .map(|e| {
            let pick = |local: &str, utc: &str| {
                if e["all_day"] == true {
                    e[local].as_str()
                } else {
                    e[utc].as_str()
                }
                .expect("time")
                .to_owned()
            };
            (
                e["uid"].as_str().expect("uid").to_owned(),
                pick("start", "start_utc"),
                pick("end", "end_utc"),
                e["title"].as_str().expect("title").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_plugins_expansion_matches_radicales() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let calendar = setup(&server);
    let plugin = server.plugin();
    for (from, to, start, end) in [
        (
            "2026-10-01T00:00:00Z",
            "2026-12-31T23:00:00Z",
            "20261001T000000Z",
            "20261231T230000Z",
        ),
        (
            "2026-11-29T23:00:00Z",
            "2026-12-06T23:00:00Z",
            "20261129T230000Z",
            "20261206T230000Z",
        ),
        (
            "2026-01-01T00:00:00Z",
            "2026-12-31T00:00:00Z",
            "20260101T000000Z",
            "20261231T000000Z",
        ),
    ] {
        let mine = plugin_instances(&list(&plugin, from, to));
        let theirs = server_instances(&server, &calendar, start, end);
        assert!(!theirs.is_empty());
        assert_eq!(
            mine.symmetric_difference(&theirs).collect::<Vec<_>>(),
            Vec::<&(String, String, String, String)>::new(),
            "window {from}..{to}"
        );
    }
}
