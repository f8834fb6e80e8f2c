//! `calendar_list_events` against a local radicale 3.9: a month with ~200 events
//! (some recurring) and a year with ~1,000, through the plugin on the SDK's
//! in-process harness (the real main loop and JSON lines), plus the split between
//! the server (the REPORT round trip: radicale's time-range filter and the bytes) and
//! the plugin (multistatus + iCalendar parse, recurrence expansion, JSON).
//!
//! `cargo bench -p carapace-plugin-calendar --bench calendar` (or
//! `bash bench/calendar.sh`). Prints percentiles; asserts nothing. Issue 17's
//! target: a year with 1,000 events, p50 <= 150 ms.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use carapace_plugin_calendar::config::Config;
use carapace_plugin_calendar::expand::{expand, Limits};
use carapace_plugin_calendar::http::Credentials;
use carapace_plugin_calendar::service::Account;
use carapace_plugin_calendar::{dav, ics};
use chrono::{DateTime, Utc};
use serde_json::json;
use support::{vcalendar, Radicale};

const ROUNDS: usize = 30;

/// `count` events over `days` days from 2026-12-01: one in `every` recurring
/// (weekly, daily with an EXDATE, monthly), the rest single, some in Berlin time.
fn fill(server: &Radicale, calendar: &str, count: usize, days: u32, every: usize) {
    for i in 0..count {
        let day = 1 + (i as u32 * 7919) % days;
        let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date")
            + chrono::Duration::days(i64::from(day) - 1);
        let d = date.format("%Y%m%d");
        let hour = 7 + i % 11;
        let rule = if i % every == 0 {
            match (i / every) % 3 {
                0 => "RRULE:FREQ=WEEKLY;BYDAY=MO,WE\n",
                1 => "RRULE:FREQ=DAILY;COUNT=20\nEXDATE;TZID=Europe/Berlin:{d}T{hour:02}0000\n",
                _ => "RRULE:FREQ=MONTHLY;BYMONTHDAY=15\n",
            }
        } else {
            ""
        };
        let rule = rule
            .replace("{d}", &d.to_string())
            .replace("{hour:02}", &format!("{hour:02}"));
        let start = if i % 2 == 0 {
            format!("DTSTART;TZID=Europe/Berlin:{d}T{hour:02}0000\nDTEND;TZID=Europe/Berlin:{d}T{hour:02}4500")
        } else {
            format!("DTSTART:{d}T{hour:02}0000Z\nDTEND:{d}T{hour:02}3000Z")
        };
        let vevent = format!(
            "BEGIN:VEVENT\nUID:bench-{i}\nDTSTAMP:20261101T000000Z\nSUMMARY:Meeting {i} about the quarterly numbers\nLOCATION:Room {}\nDESCRIPTION:Agenda: item one, item two, item three.\n{start}\n{rule}END:VEVENT",
            i % 40
        );
        server.put(calendar, &format!("e{i}"), &vcalendar(&[&vevent]));
    }
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: usize| samples[(samples.len() - 1) * p / 100];
    println!(
        "{name:<44} p50 {:>8.2} ms  p90 {:>8.2} ms  max {:>8.2} ms",
        at(50).as_secs_f64() * 1e3,
        at(90).as_secs_f64() * 1e3,
        at(100).as_secs_f64() * 1e3
    );
}

fn measure(
    server: &Radicale,
    label: &str,
    from: &str,
    to: &str,
    range: (DateTime<Utc>, DateTime<Utc>),
) {
    let plugin = server.plugin();
    let arguments = json!({"from": from, "to": to});
    let warm = plugin.ok("calendar_list_events", arguments.clone());
    println!(
        "{label}: {} instances from the window ({} KiB answer)",
        warm["count"],
        warm.to_string().len() / 1024
    );
    let mut whole = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let _ = plugin.ok("calendar_list_events", arguments.clone());
        whole.push(started.elapsed());
    }
    percentiles(&format!("{label}: calendar_list_events (whole)"), whole);

    // The split: the REPORT round trip alone, then parse + expand on its body.
    let config: Config = serde_json::from_value(server.config()).expect("config");
    let account = Account::new(
        config,
        Credentials::basic(support::USER, &server.password),
        None,
    )
    .expect("account");
    let calendar = account.calendars().expect("calendars").remove(0);
    let body = dav::calendar_query(range.0, range.1, false);
    let (mut server_time, mut plugin_time) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let reply = account
            .dav()
            .send(
                "REPORT",
                &calendar.url,
                &[("depth", "1"), ("content-type", "application/xml")],
                body.as_bytes(),
            )
            .expect("report");
        server_time.push(started.elapsed());
        let started = Instant::now();
        let resources = dav::parse_multistatus(&reply.body).expect("multistatus");
        let mut events = Vec::new();
        for r in &resources {
            if let Some(data) = &r.calendar_data {
                events.extend(ics::parse_object(data).0);
            }
        }
        let found = expand(
            &events,
            chrono_tz::Tz::Europe__Berlin,
            range.0,
            range.1,
            Limits::default(),
        );
        std::hint::black_box(found.instances.len());
        plugin_time.push(started.elapsed());
    }
    percentiles(&format!("{label}: server (REPORT round trip)"), server_time);
    percentiles(
        &format!("{label}: plugin (XML + iCalendar + expand)"),
        plugin_time,
    );
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

fn main() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let month = server.mkcalendar("month", "Month");
    fill(&server, &month, 200, 31, 7);
    measure(
        &server,
        "month, 200 events",
        "2026-11-30T23:00:00Z",
        "2026-12-31T23:00:00Z",
        (utc("2026-11-30T23:00:00Z"), utc("2026-12-31T23:00:00Z")),
    );
    drop(server);
    let Some(server) = Radicale::start() else {
        return;
    };
    let year = server.mkcalendar("year", "Year");
    fill(&server, &year, 1000, 365, 10);
    measure(
        &server,
        "year, 1000 events",
        "2026-12-01T00:00:00Z",
        "2027-12-01T00:00:00Z",
        (utc("2026-12-01T00:00:00Z"), utc("2027-12-01T00:00:00Z")),
    );
}
