//! The calendar plugin through the real core (issue 17): the real `carapace`, the real
//! `ipc`, the real `carapace-plugin-calendar` process (confined, its password stored
//! with `carapace auth set`) and a real radicale on loopback. Without radicale:
//! SKIPPED loudly (a failure with `CARAPACE_REQUIRE_SERVERS=1`).
//!
//! Rule: creating an event that invites people is held for the person, and what the
//! person is shown (`confirmation.requested`, `confirm list`) names the title, the
//! times with their zone and every attendee; nothing reaches the calendar before the
//! approval, and a denied call writes nothing.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestCore;
use serde_json::json;

/// Builds the plugin's binary beside `carapace` once (the core finds handlers there).
fn plugin_built() {
    common::plugin_built("carapace-plugin-calendar");
}

/// Radicale on a free loopback port with Alice's calendar `work` made on disk.
struct Radicale {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    password: String,
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn radicale() -> Option<Radicale> {
    let installed = Command::new("python3")
        .args(["-c", "import radicale"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        assert!(
            std::env::var("CARAPACE_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "radicale is required but missing: pip install radicale==3.9.0"
        );
        eprintln!("SKIPPED: radicale is not installed (pip install radicale==3.9.0)");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let password = common::random_hex(16);
    std::fs::write(dir.path().join("users"), format!("alice:{password}\n")).expect("users");
    // A calendar collection in radicale's own storage layout.
    let work = dir.path().join("collections/collection-root/alice/work");
    std::fs::create_dir_all(&work).expect("calendar dir");
    std::fs::write(
        work.join(".Radicale.props"),
        r#"{"tag": "VCALENDAR", "D:displayname": "Work", "C:supported-calendar-component-set": "VEVENT"}"#,
    )
    .expect("props");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = format!(
        "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain\n[storage]\nfilesystem_folder = {}\n[web]\ntype = none\n",
        dir.path().join("users").display(),
        dir.path().join("collections").display()
    );
    std::fs::write(dir.path().join("config"), config).expect("config");
    let child = Command::new("python3")
        .args(["-m", "radicale", "--config"])
        .arg(dir.path().join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("radicale");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "radicale did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Radicale {
        child,
        dir,
        port,
        password,
    })
}

/// The events stored in Alice's `work` calendar, as files.
fn stored(server: &Radicale) -> Vec<String> {
    let dir = server
        .dir
        .path()
        .join("collections/collection-root/alice/work");
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .expect("calendar dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ics"))
        .map(|e| {
            // Unfolded (RFC 5545 §3.1): long lines are stored split.
            std::fs::read_to_string(e.path())
                .expect("read")
                .replace("\r\n ", "")
                .replace("\n ", "")
        })
        .collect();
    texts.sort();
    texts
}

#[test]
fn an_invitation_is_held_and_the_card_shows_title_times_and_every_attendee() {
    let Some(server) = radicale() else { return };
    plugin_built();
    common::ipc_bin();
    let config = format!(
        "[core]\nlog_level = \"info\"\n[groups.main]\ntools = [\"*\"]\n\
         [plugins.calendar]\nconfig = {{ url = \"http://127.0.0.1:{}/\", username = \"alice\", time_zone = \"Europe/Berlin\", email = \"alice@example.com\" }}\n",
        server.port
    );
    let mut core = TestCore::prepare(&config, false);
    let set = common::auth_set_at(core.home.path(), "calendar", "password", &server.password);
    assert!(set.status.success(), "{set:?}");
    core.use_bundled();
    core.launch();
    core.wait_plugin("calendar", "running");
    let (mut follower, events) = common::follow_events(&core, "confirmation.");
    let session = core.open_session("main");

    // A low-risk read runs at once.
    let listed = session.ipc(&["calendar_list", "{}"]).result();
    assert_eq!(listed["calendars"][0]["name"], "Work", "{listed}");

    // Round 0 makes sure the subscription is live; the person denies: nothing is written.
    let arguments = json!({
        "title": "Budget review <Q1> & ]]>",
        "start": "2026-12-10T15:00",
        "end": "2026-12-10T16:00",
        "tz": "Europe/Berlin",
        "attendees": ["bob@example.com", "carol@example.org"],
    });
    for (round, decision) in [(0, "deny"), (1, "approve")] {
        let caller = session.clone();
        let text = arguments.to_string();
        let call = std::thread::spawn(move || {
            caller.ipc_with(&["calendar_create_event", &text], None, "60")
        });
        let pending = core.wait_pending();
        assert_eq!(pending["tool"], "calendar_create_event");
        assert!(
            stored(&server).is_empty(),
            "nothing is written before a decision"
        );
        if round == 1 {
            let requested = common::next_event(&events, "confirmation.requested");
            let payload = &requested["payload"];
            assert_eq!(payload["tool"], "calendar_create_event");
            assert_eq!(payload["plugin"], "calendar");
            for shown in [&payload["arguments"], &pending["arguments"]] {
                assert_eq!(shown["title"], "Budget review <Q1> & ]]>", "{payload}");
                assert_eq!(shown["start"], "2026-12-10T15:00");
                assert_eq!(shown["end"], "2026-12-10T16:00");
                assert_eq!(shown["tz"], "Europe/Berlin");
                assert_eq!(
                    shown["attendees"],
                    json!(["bob@example.com", "carol@example.org"])
                );
            }
            let display = payload["display"]["arguments"].as_str().expect("display");
            for part in [
                "Budget review",
                "2026-12-10T15:00",
                "2026-12-10T16:00",
                "Europe/Berlin",
                "bob@example.com",
                "carol@example.org",
            ] {
                assert!(
                    display.contains(part),
                    "{part} missing from the card: {display}"
                );
            }
        }
        let id = pending["id"].as_str().expect("id");
        assert!(core.cli(&["confirm", decision, id]).status.success());
        let resolved = common::next_event(&events, "confirmation.resolved");
        assert_eq!(resolved["payload"]["decision"], decision);
        let run = call.join().expect("call");
        if round == 0 {
            assert_eq!(run.error()["code"], "CONFIRMATION_DENIED");
            assert!(stored(&server).is_empty(), "a denied call writes nothing");
        } else {
            let made = run.result();
            assert_eq!(made["start"], "2026-12-10T15:00:00+01:00", "{made}");
            let files = stored(&server);
            assert_eq!(files.len(), 1);
            assert!(
                files[0].contains("mailto:bob@example.com")
                    && files[0].contains("mailto:carol@example.org")
            );
        }
    }
    let listed = session
        .ipc(&[
            "calendar_list_events",
            r#"{"from":"2026-12-10","to":"2026-12-10"}"#,
        ])
        .result();
    assert_eq!(
        listed["events"][0]["title"], "Budget review <Q1> & ]]>",
        "{listed}"
    );
    assert!(
        !core.log().contains(&server.password),
        "the password reached the log"
    );
    let _ = follower.kill();
    let _ = follower.wait();
}
