//! The email plugin through the real core (issue 17): the real `carapace`, the real
//! `ipc`, the real `carapace-plugin-email` process (confined, its password stored
//! with `carapace auth set`), a real dovecot and an aiosmtpd submission server
//! delivering to it (`plugins/email/tests/support/servers.rs`).
//!
//! Rules: `email_send` is held for the person's approval every time, and what the
//! person is shown (`confirmation.requested`, `confirm list`) carries every
//! recipient, the subject and the whole body; a denied send leaves no mail
//! anywhere; an approved one is delivered; the password appears in no log or audit line;
//! a credential written in a mail's headers or body reaches the agent redacted.

mod common;

#[path = "../plugins/email/tests/support/servers.rs"]
mod servers;

#[path = "fixtures/email_core.rs"]
mod email_core;

use std::time::Duration;

use common::TestCore;
use email_core::{core_launched, servers_or_skip, wait_running, Servers};
use serde_json::{json, Value};
use servers::{OTHER, THIRD, USER};

/// A core on a fresh home with the bundled plugins, the email plugin set up for
/// [`USER`] (its password stored), running.
fn core_for(world: &Servers) -> TestCore {
    let core = core_launched(common::BASIC_CONFIG, world, &world.2.password(USER), "");
    wait_running(&core);
    core
}

#[test]
fn email_send_waits_for_the_person_who_sees_every_recipient_subject_and_body() {
    let Some(world) = servers_or_skip() else {
        return;
    };
    let dovecot = &world.2;
    let password = dovecot.password(USER);
    let core = core_for(&world);

    let (mut follower, events) = common::follow_events(&core, "confirmation.");
    std::thread::sleep(Duration::from_millis(300));

    let session = core.open_session("main");
    let arguments = json!({
        "to": [OTHER, THIRD],
        "cc": [USER],
        "subject": "Wire the money",
        "body": "Dear Bob,\n\nplease wire 5,000 EUR to the account below.\n\nAlice",
    });
    let text = arguments.to_string();
    let caller = session.clone();
    let denied_text = text.clone();
    let denied =
        std::thread::spawn(move || caller.ipc_with(&["email_send", &denied_text], None, "30"));
    let pending = core.wait_pending();
    assert_eq!(pending["tool"], "email_send", "{pending}");
    // The event a channel shows the person carries the arguments whole.
    let requested = loop {
        let event = events
            .recv_timeout(Duration::from_secs(15))
            .expect("confirmation.requested");
        if event["topic"] == "confirmation.requested" {
            break event;
        }
    };
    let payload = &requested["payload"];
    assert_eq!(payload["tool"], "email_send");
    assert_eq!(payload["plugin"], "email");
    assert_eq!(payload["arguments"], arguments, "{payload}");
    let display: Value =
        serde_json::from_str(payload["display"]["arguments"].as_str().expect("display"))
            .expect("display is JSON");
    for recipient in [OTHER, THIRD, USER] {
        assert!(display.to_string().contains(recipient), "{display}");
    }
    assert_eq!(display["subject"], "Wire the money");
    assert_eq!(display["body"], arguments["body"]);

    // Denied: the call fails, and no mail is anywhere.
    let id = pending["id"].as_str().expect("id").to_owned();
    assert!(core.cli(&["confirm", "deny", &id]).status.success());
    let run = denied.join().expect("ipc");
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("CONFIRMATION_DENIED"), "{}", run.stderr);
    std::thread::sleep(Duration::from_millis(300));
    for user in [OTHER, THIRD, USER] {
        assert!(
            dovecot.inbox_files(user).is_empty(),
            "{user} got a denied mail"
        );
    }

    // Approved: delivered to each recipient, once.
    let caller = session.clone();
    let approved = std::thread::spawn(move || caller.ipc_with(&["email_send", &text], None, "30"));
    let pending = core.wait_pending();
    let id = pending["id"].as_str().expect("id").to_owned();
    assert!(core.cli(&["confirm", "approve", &id]).status.success());
    let run = approved.join().expect("ipc");
    assert_eq!(run.code, 0, "{run:?}\n{}", core.log());
    let result = run.result();
    assert_eq!(result["sent"], true, "{result}");
    let delivered = dovecot.inbox_files(OTHER);
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].contains("Subject: Wire the money"));
    assert_eq!(dovecot.inbox_files(USER).len(), 1);
    assert_eq!(dovecot.inbox_files(THIRD).len(), 1);

    // The approval covered that call only: the next send waits again.
    let caller = session.clone();
    let again = std::thread::spawn(move || {
        caller.ipc_with(
            &[
                "email_send",
                r#"{"to":["bob@example.test"],"subject":"x","body":"y"}"#,
            ],
            None,
            "30",
        )
    });
    let pending = core.wait_pending();
    let id = pending["id"].as_str().expect("id").to_owned();
    assert!(core.cli(&["confirm", "deny", &id]).status.success());
    assert_ne!(again.join().expect("ipc").code, 0);

    let _ = follower.kill();
    let _ = follower.wait();
    let audit = std::fs::read_dir(core.home.path().join("logs"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect::<String>()
        })
        .unwrap_or_default();
    assert!(
        !audit.contains(&password),
        "the password is in the audit log"
    );
    assert!(
        !core.log().contains(&password),
        "the password is in the core's log"
    );
}

/// A mail can carry someone's credentials (pasted by mistake, or bait): through
/// `ipc`, `email_search` and `email_read` answer with them redacted by the core.
#[test]
fn credentials_in_a_mail_reach_the_agent_redacted() {
    let Some(world) = servers_or_skip() else {
        return;
    };
    let dovecot = &world.2;
    let github = format!("ghp_{}", servers::random_text(36));
    let aws = format!("AKIA{}", servers::random_text(16).to_ascii_uppercase());
    dovecot.deliver_file(
        USER,
        &format!(
            "From: ops@example.test\r\nTo: {USER}\r\nSubject: deploy key {github}\r\nX-Debug: {aws}\r\n\r\nUse {github} and {aws} to deploy.\r\n"
        ),
    );
    let core = core_for(&world);
    let session = core.open_session("main");
    let found = session.ipc(&["email_search", "{}"]).result();
    let text = found.to_string();
    assert!(!text.contains(&github), "{text}");
    assert!(text.contains("[REDACTED:github_token"), "{text}");
    let id = found["messages"][0]["id"].as_str().expect("id").to_owned();
    let read = session
        .ipc(&["email_read", &json!({"id": id}).to_string()])
        .result();
    let text = read.to_string();
    assert!(!text.contains(&github) && !text.contains(&aws), "{text}");
    assert!(
        read["body"].as_str().expect("body").contains("[REDACTED:"),
        "{read}"
    );
}

/// A refused password disables the email plugin with AUTH_ERROR (named by
/// `status` and `doctor`, the password in neither); the core and its other tools
/// serve on, and the agent's catalog has no email tool.
#[test]
fn a_wrong_password_disables_the_plugin_and_everything_else_runs_on() {
    let Some(world) = servers_or_skip() else {
        return;
    };
    let wrong = format!("wrong-{}", servers::random_text(16));
    let core = core_launched(common::BASIC_CONFIG, &world, &wrong, "");
    let email = core.wait_plugin("email", "failed");
    assert_eq!(email["category"], "AUTH_ERROR", "{email}");
    let doctor = core.cli(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("plugin email failed"), "{text}");
    assert!(!text.contains(&wrong) && !email.to_string().contains(&wrong));
    let session = core.open_session("main");
    let tools = session.ipc(&["list_tools"]).result().to_string();
    assert!(
        !tools.contains("email_send") && tools.contains("list_tools"),
        "{tools}"
    );
    assert!(
        !core.log().contains(&wrong),
        "the password is in the core's log"
    );
}
