//! Windows of events kept between calls, against a real radicale behind a relay
//! that writes down every request the plugin sends.
//!
//! Rule: a kept window is reused only for the same calendar and window, and only
//! while the calendar's ctag is what it was *before* the window was read (the
//! ctag is asked first, so a change racing the read is never hidden). Any change,
//! by this plugin or another client, is seen on the next call; a server without
//! a ctag and `kept_windows = 0` are asked every time. A window asked for the
//! first time is read without a ctag request.

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
