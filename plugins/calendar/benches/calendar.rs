//! `calendar_list_events` against a local radicale 3.9: a month with ~200 events
//! (some recurring) and a year with ~1,000, through the plugin on the SDK's
//! in-process harness (the real main loop and JSON lines), plus the split between
//! the server (the REPORT round trip: radicale's time-range filter and the bytes) and
//! the plugin (multistatus + iCalendar parse, recurrence expansion, JSON).
//!
//! The whole call three ways: the same window again with the calendar unchanged
//! (the kept window reused after its ctag check), changed by another client
//! before each call (ctag, then REPORT), and with `kept_windows = 0`.
//!
//! For the year, also radicale's own time for each request form a client could
//! use (`forms`): the REPORT the plugin sends, the same without calendar-data,
//! PROPFIND getctag alone and with sync-token, PROPFIND getetag, sync-collection
//! (first and unchanged), calendar-multiget, and a GET of the whole collection;
//! so a change of what the plugin asks is chosen on figures.
//!
//! `cargo bench -p carapace-plugin-calendar --bench calendar` (or
//! `bash bench/calendar.sh`). Prints percentiles; asserts nothing. Issue 17's
//! target: a year with 1,000 events, p50 <= 150 ms.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use carapace_plugin_calendar::config::Config;
use carapace_plugin_calendar::discovery::Calendar;
use carapace_plugin_calendar::expand::{expand, Limits};
use carapace_plugin_calendar::href::Url;
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
        server.put_file(calendar, &format!("e{i}"), &vcalendar(&[&vevent]));
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
    calendar_path: &str,
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
    // The answer's trip over the JSON-RPC line alone: serialized by the SDK,
    // parsed by the harness (as the core parses it).
    let mut line = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let bytes = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "result": warm}))
            .expect("serialize");
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).expect("parse");
        std::hint::black_box(parsed);
        line.push(started.elapsed());
    }
    percentiles(&format!("{label}: the answer serialized + parsed"), line);
    let time_calls = |plugin: &support::Plugin, before: &dyn Fn(usize)| {
        let mut times = Vec::new();
        for round in 0..ROUNDS {
            before(round);
            let started = Instant::now();
            let _ = plugin.ok("calendar_list_events", arguments.clone());
            times.push(started.elapsed());
        }
        times
    };
    percentiles(
        &format!("{label}: whole, calendar unchanged (reused)"),
        time_calls(&plugin, &|_| {}),
    );
    // Another client changes one object before each call: the ctag differs, so
    // every call asks the ctag and then REPORTs (the cost of a kept window's miss).
    percentiles(
        &format!("{label}: whole, changed before each call"),
        time_calls(&plugin, &|round| {
            server.put_file(
                calendar_path,
                "e1",
                &vcalendar(&[&format!(
                    "BEGIN:VEVENT\nUID:bench-1\nDTSTAMP:20261101T000000Z\nSUMMARY:Changed {round}\nDTSTART:20261202T100000Z\nDTEND:20261202T110000Z\nEND:VEVENT"
                )]),
            )
        }),
    );
    let mut config = server.config();
    config["kept_windows"] = json!(0);
    let unkept = server.plugin_with(config, &server.password);
    percentiles(
        &format!("{label}: whole, kept_windows = 0"),
        time_calls(&unkept, &|_| {}),
    );
    drop(unkept);

    // The split: the REPORT round trip alone, then parse + expand on its body.
    let (account, calendar) = account_of(server);
    // The tool without the JSON-RPC line and the harness: what the plugin spends
    // answering, server included.
    let mut direct = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let answer = carapace_plugin_calendar::tools::call(
            &account,
            "calendar_list_events",
            arguments.clone(),
        )
        .expect("answer");
        std::hint::black_box(answer.to_string().len());
        direct.push(started.elapsed());
    }
    percentiles(
        &format!("{label}: the tool, without JSON-RPC (reused)"),
        direct,
    );
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

/// One request form, timed `ROUNDS` times at the HTTP level (radicale's work and
/// the bytes); the size of its answer.
fn form(account: &Account, label: &str, method: &str, url: &Url, depth: &str, body: &str) {
    let send = || {
        account
            .dav()
            .send(
                method,
                url,
                &[("depth", depth), ("content-type", "application/xml")],
                body.as_bytes(),
            )
            .expect("answer")
    };
    let first = send();
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        std::hint::black_box(send().body.len());
        times.push(started.elapsed());
    }
    percentiles(
        &format!(
            "  {label} (HTTP {}, {} KiB)",
            first.status,
            first.body.len() / 1024
        ),
        times,
    );
}

/// The plugin's account on `server` (no harness) and its first calendar.
fn account_of(server: &Radicale) -> (Account, Calendar) {
    let config: Config = serde_json::from_value(server.config()).expect("config");
    let account = Account::new(
        config,
        Credentials::basic(support::USER, &server.password),
        None,
    )
    .expect("account");
    let calendar = account.calendars().expect("calendars").remove(0);
    (account, calendar)
}

/// Radicale's time for each request form over `calendar` and `range`.
fn forms(server: &Radicale, range: (DateTime<Utc>, DateTime<Utc>)) {
    let (account, calendar) = account_of(server);
    let url = &calendar.url;
    println!("request forms, radicale's time (the year's calendar):");
    let query = dav::calendar_query(range.0, range.1, false);
    form(
        &account,
        "REPORT calendar-query, etag + data (now)",
        "REPORT",
        url,
        "1",
        &query,
    );
    let etags_only = query.replace("<c:calendar-data/>", "");
    form(
        &account,
        "REPORT calendar-query, etag only",
        "REPORT",
        url,
        "1",
        &etags_only,
    );
    form(
        &account,
        "PROPFIND depth 0, getctag alone (a reuse's check)",
        "PROPFIND",
        url,
        "0",
        dav::PROPFIND_CTAG,
    );
    let state = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>"#;
    form(
        &account,
        "PROPFIND depth 0, getctag + sync-token",
        "PROPFIND",
        url,
        "0",
        state,
    );
    let propfind = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#;
    form(
        &account,
        "PROPFIND depth 1, getetag",
        "PROPFIND",
        url,
        "1",
        propfind,
    );
    let sync = |token: &str, data: bool| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/>{}</d:prop></d:sync-collection>"#,
            if data { "<c:calendar-data/>" } else { "" }
        )
    };
    form(
        &account,
        "REPORT sync-collection, first, etag",
        "REPORT",
        url,
        "0",
        &sync("", false),
    );
    form(
        &account,
        "REPORT sync-collection, first, etag + data",
        "REPORT",
        url,
        "0",
        &sync("", true),
    );
    let first = account
        .dav()
        .send(
            "REPORT",
            url,
            &[("depth", "0"), ("content-type", "application/xml")],
            sync("", false).as_bytes(),
        )
        .expect("sync");
    let token = String::from_utf8_lossy(&first.body)
        .split("<sync-token>")
        .nth(1)
        .and_then(|rest| rest.split("</sync-token>").next())
        .unwrap_or("")
        .to_owned();
    form(
        &account,
        "REPORT sync-collection, unchanged since token",
        "REPORT",
        url,
        "0",
        &sync(&token, false),
    );
    let hrefs: Vec<String> = dav::parse_multistatus(&first.body)
        .expect("multistatus")
        .into_iter()
        .map(|r| r.href)
        .filter(|h| h.ends_with(".ics"))
        .collect();
    let multiget = |hrefs: &[String]| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>{}</c:calendar-multiget>"#,
            hrefs
                .iter()
                .map(|h| format!("<d:href>{}</d:href>", dav::escape(h)))
                .collect::<String>()
        )
    };
    form(
        &account,
        "REPORT calendar-multiget, 1 object",
        "REPORT",
        url,
        "1",
        &multiget(&hrefs[..1]),
    );
    form(
        &account,
        "REPORT calendar-multiget, 10 objects",
        "REPORT",
        url,
        "1",
        &multiget(&hrefs[..10]),
    );
    form(
        &account,
        "REPORT calendar-multiget, every object",
        "REPORT",
        url,
        "1",
        &multiget(&hrefs),
    );
    form(
        &account,
        "GET the collection (one iCalendar)",
        "GET",
        url,
        "0",
        "",
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
        &month,
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
    forms(
        &server,
        (utc("2026-12-01T00:00:00Z"), utc("2027-12-01T00:00:00Z")),
    );
    measure(
        &server,
        &year,
        "year, 1000 events",
        "2026-12-01T00:00:00Z",
        "2027-12-01T00:00:00Z",
        (utc("2026-12-01T00:00:00Z"), utc("2027-12-01T00:00:00Z")),
    );
}
