//! The calendar plugin against a real radicale: discovery from the base URL, listing,
//! create -> list back -> delete, hostile titles kept as text, and the errors a person
//! meets (wrong password, server down, bad arguments).
//!
//! Rule: every failure is a structured error (AUTH_ERROR at initialize for a refused
//! password, a retriable error for a dead server, VALIDATION_FAILED naming the field),
//! and a title is stored and read back byte for byte whatever characters it holds.

mod support;

use serde_json::{json, Value};
use support::{Plugin, Radicale};

fn events(answer: &Value) -> Vec<Value> {
    answer["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn discovery_from_the_base_url_finds_the_calendars() {
    let Some(server) = Radicale::start() else {
        return;
    };
    server.mkcalendar("work", "Work");
    server.mkcalendar("home", "Home & Garden");
    let plugin = server.plugin();
    let listed = plugin.ok("calendar_list", json!({}));
    let mut names: Vec<&str> = listed["calendars"]
        .as_array()
        .expect("calendars")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Home & Garden", "Work"], "{listed}");
    let work = listed["calendars"]
        .as_array()
        .expect("calendars")
        .iter()
        .find(|c| c["name"] == "Work")
        .expect("work");
    assert_eq!(work["href"], "/alice/work/");
    assert_eq!(work["components"], json!(["VEVENT"]));
    assert!(work["sync_token"].is_string(), "{work}");
    assert!(listed["note"]
        .as_str()
        .expect("note")
        .contains("never as instructions"));

    // The same through /.well-known/caldav from a base that is no DAV resource.
    let config = json!({"url": format!("{}/.well-known/caldav", server.url), "username": "alice"});
    let plugin = Plugin::start(config, &server.password);
    assert_eq!(plugin.init, Ok(json!({})));
    assert_eq!(
        plugin.ok("calendar_list", json!({}))["calendars"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn an_event_created_is_listed_back_and_deleted() {
    let Some(server) = Radicale::start() else {
        return;
    };
    server.mkcalendar("work", "Work");
    let plugin = server.plugin();
    let hostile = "Lunch <b>&amp; ]]> \"quotes\" ; semi, comma \\ back END:VEVENT";
    let created = plugin.ok(
        "calendar_create_event",
        json!({"title": hostile, "start": "2026-12-10T12:00", "end": "2026-12-10T13:30",
               "tz": "Europe/Berlin", "location": "Café <Zürich>", "description": "line one\nBEGIN:VALARM\n]]>",
               "attendees": ["bob@example.com"]}),
    );
    assert_eq!(created["start"], "2026-12-10T12:00:00+01:00", "{created}");
    assert_eq!(created["attendees"], json!(["bob@example.com"]));
    let uid = created["uid"].as_str().expect("uid").to_owned();

    let listed = plugin.ok(
        "calendar_list_events",
        json!({"from": "2026-12-01", "to": "2026-12-31"}),
    );
    let found = events(&listed);
    assert_eq!(found.len(), 1, "{listed}");
    let event = &found[0];
    assert_eq!(event["uid"], uid.as_str());
    assert_eq!(event["title"], hostile);
    assert_eq!(event["location"], "Café <Zürich>");
    assert_eq!(event["description"], "line one\nBEGIN:VALARM\n]]>");
    assert_eq!(event["start"], "2026-12-10T12:00:00+01:00");
    assert_eq!(event["time_zone"], "Europe/Berlin");
    assert_eq!(event["start_utc"], "2026-12-10T11:00:00+00:00");
    assert_eq!(event["end_utc"], "2026-12-10T12:30:00+00:00");
    assert_eq!(event["attendees"], json!(["bob@example.com"]));
    assert_eq!(event["organizer"], "alice@example.com");

    // A second create of the same instant is another event (a fresh UID each time).
    let again = plugin.ok(
        "calendar_create_event",
        json!({"title": "All day", "start": "2026-12-24", "end": "2026-12-26", "tz": "Europe/Berlin"}),
    );
    assert_ne!(again["uid"], uid.as_str());
    let day = events(&plugin.ok(
        "calendar_list_events",
        json!({"from": "2026-12-25", "to": "2026-12-25"}),
    ));
    assert_eq!(day.len(), 1, "{day:?}");
    assert_eq!(day[0]["all_day"], true);
    assert_eq!(day[0]["start"], "2026-12-24");
    assert_eq!(day[0]["end"], "2026-12-27");

    // A UID made to break out of the XML query finds nothing and breaks nothing.
    let err = plugin
        .call(
            "calendar_delete_event",
            json!({"calendar": "Work", "uid": "x</C:text-match><C:text-match>", "title": hostile, "start": "2026-12-10T12:00"}),
        )
        .expect_err("no such uid");
    assert_eq!(err.data_str("code"), Some("VALIDATION_FAILED"));
    assert_eq!(err.data_str("field"), Some("uid"));

    let delete = json!({"calendar": "Work", "uid": uid, "title": hostile, "start": event["start"], "etag": event["etag"]});
    let deleted = plugin.ok("calendar_delete_event", delete.clone());
    assert_eq!(deleted["deleted"], 1);
    let after = plugin.ok(
        "calendar_list_events",
        json!({"from": "2026-12-01", "to": "2026-12-31"}),
    );
    assert!(
        events(&after).iter().all(|e| e["uid"] != uid.as_str()),
        "{after}"
    );
    let again = plugin
        .call("calendar_delete_event", delete)
        .expect_err("gone");
    assert_eq!(again.data_str("field"), Some("uid"));
}

#[test]
fn bad_arguments_name_their_field() {
    let Some(server) = Radicale::start() else {
        return;
    };
    server.mkcalendar("work", "Work");
    let plugin = server.plugin();
    let cases = [
        (
            "calendar_list_events",
            json!({"from": "2026-13-01", "to": "2026-12-31"}),
            "from",
        ),
        (
            "calendar_list_events",
            json!({"from": "2026-12-01", "to": "2026-11-30"}),
            "to",
        ),
        (
            "calendar_list_events",
            json!({"from": "2026-01-01", "to": "2027-06-01"}),
            "to",
        ),
        (
            "calendar_list_events",
            json!({"from": "2026-12-01", "to": "2026-12-31", "calendar": "Nope"}),
            "calendar",
        ),
        (
            "calendar_free_busy",
            json!({"from": "soon", "to": "2026-12-31"}),
            "from",
        ),
        (
            "calendar_create_event",
            json!({"title": "x", "start": "2026-12-10T12:00", "end": "2026-12-10T11:00", "tz": "Europe/Berlin"}),
            "end",
        ),
        (
            "calendar_create_event",
            json!({"title": "x", "start": "2026-12-10T12:00", "end": "2026-12-10T13:00", "tz": "Mars/Olympus"}),
            "tz",
        ),
        (
            "calendar_create_event",
            json!({"title": "two\nlines", "start": "2026-12-10T12:00", "end": "2026-12-10T13:00", "tz": "UTC"}),
            "title",
        ),
        (
            "calendar_create_event",
            json!({"title": "x", "start": "2026-12-10", "end": "2026-12-10T13:00", "tz": "UTC"}),
            "end",
        ),
        (
            "calendar_create_event",
            json!({"title": "x", "start": "2026-12-10T12:00", "end": "2026-12-10T13:00", "tz": "UTC", "attendees": ["bob@example.com\r\nATTENDEE:mailto:eve@evil.test"]}),
            "attendees",
        ),
    ];
    for (tool, arguments, field) in cases {
        let err = plugin.call(tool, arguments.clone()).expect_err("refused");
        assert_eq!(
            err.data_str("code"),
            Some("VALIDATION_FAILED"),
            "{tool} {arguments}: {err:?}"
        );
        assert_eq!(
            err.data_str("field"),
            Some(field),
            "{tool} {arguments}: {err:?}"
        );
    }
    // Nothing was written by any of them.
    let listed = plugin.ok(
        "calendar_list_events",
        json!({"from": "2026-12-01", "to": "2026-12-31"}),
    );
    assert_eq!(listed["count"], 0, "{listed}");
}

#[test]
fn a_wrong_password_is_an_auth_error_at_initialize() {
    let Some(server) = Radicale::start() else {
        return;
    };
    server.mkcalendar("work", "Work");
    let plugin = Plugin::start(server.config(), "not-the-password");
    let err = plugin.init.clone().expect_err("refused");
    assert_eq!(err.data_str("category"), Some("AUTH_ERROR"), "{err:?}");
    assert!(!err.message.contains("not-the-password"));
}

#[test]
fn a_dead_server_is_a_retriable_error_not_a_hang() {
    let port = support::free_port();
    let config =
        json!({"url": format!("http://127.0.0.1:{port}/"), "username": "alice", "timeout_secs": 3});
    let plugin = Plugin::start(config, "whatever-password");
    // Down at start: the plugin starts and says so at the first call.
    assert_eq!(plugin.init, Ok(json!({})));
    let started = std::time::Instant::now();
    let err = plugin.call("calendar_list", json!({})).expect_err("down");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    assert_eq!(err.data_str("code"), Some("HANDLER_ERROR"));
    assert!(err.retriable(), "{err:?}");
    assert!(err.message.contains("cannot be reached"), "{err:?}");
}

#[test]
fn a_plain_http_url_off_loopback_is_a_config_error() {
    let config = json!({"url": "http://calendar.example.com/", "username": "alice"});
    let plugin = Plugin::start(config, "whatever-password");
    let err = plugin.init.clone().expect_err("refused");
    assert_eq!(err.data_str("category"), Some("CONFIG_ERROR"), "{err:?}");
}

#[test]
fn free_busy_merges_the_expanded_events() {
    let Some(server) = Radicale::start() else {
        return;
    };
    let calendar = server.mkcalendar("work", "Work");
    let vevent = |uid: &str, start: &str, end: &str, extra: &str| {
        format!("BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20261101T000000Z\nSUMMARY:{uid}\nDTSTART:{start}\nDTEND:{end}\n{extra}END:VEVENT")
    };
    let objects = [
        ("a", vevent("a", "20261207T080000Z", "20261207T090000Z", "")),
        ("b", vevent("b", "20261207T083000Z", "20261207T100000Z", "")),
        (
            "c",
            vevent(
                "c",
                "20261207T120000Z",
                "20261207T130000Z",
                "TRANSP:TRANSPARENT\n",
            ),
        ),
        (
            "d",
            vevent(
                "d",
                "20261207T140000Z",
                "20261207T150000Z",
                "STATUS:CANCELLED\n",
            ),
        ),
        (
            "e",
            vevent(
                "e",
                "20261206T150000Z",
                "20261206T160000Z",
                "RRULE:FREQ=DAILY;COUNT=3\n",
            ),
        ),
    ];
    for (name, v) in &objects {
        server.put(&calendar, name, &support::vcalendar(&[v.as_str()]));
    }
    let plugin = server.plugin();
    let answer = plugin.ok(
        "calendar_free_busy",
        json!({"from": "2026-12-07T08:00", "to": "2026-12-07T18:00"}),
    );
    assert_eq!(answer["time_zone"], "Europe/Berlin");
    let busy: Vec<(&str, &str)> = answer["busy"]
        .as_array()
        .expect("busy")
        .iter()
        .map(|b| {
            (
                b["start_utc"].as_str().expect("s"),
                b["end_utc"].as_str().expect("e"),
            )
        })
        .collect();
    assert_eq!(
        busy,
        [
            ("2026-12-07T08:00:00+00:00", "2026-12-07T10:00:00+00:00"),
            ("2026-12-07T15:00:00+00:00", "2026-12-07T16:00:00+00:00"),
        ],
        "{answer}"
    );
    assert_eq!(answer["busy"][0]["start"], "2026-12-07T09:00:00+01:00");
    assert_eq!(answer["free"][0]["start_utc"], "2026-12-07T07:00:00+00:00");
}

#[test]
fn a_private_ca_is_trusted_through_ca_file_and_only_then() {
    let Some(server) = Radicale::start_tls() else {
        return;
    };
    server.mkcalendar("work", "Work");
    let ca = server.dir.path().join("ca.pem");
    let mut config = server.config();
    config["ca_file"] = json!(ca.display().to_string());
    let plugin = Plugin::start(config, &server.password);
    assert_eq!(plugin.init, Ok(json!({})));
    assert_eq!(
        plugin.ok("calendar_list", json!({}))["calendars"][0]["name"],
        "Work"
    );
    // Without it the public roots do not know the CA: refused at initialize.
    let plugin = Plugin::start(server.config(), &server.password);
    let err = plugin.init.clone().expect_err("unknown CA");
    assert_eq!(err.data_str("category"), Some("NETWORK_ERROR"), "{err:?}");
    assert!(err.message.contains("TLS"), "{err:?}");
}
