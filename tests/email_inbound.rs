//! Mail that starts a session, through the real core (issue 17): the real
//! `carapace` with podman and a scripted agent, the real `carapace-plugin-email`
//! polling a real dovecot, mail delivered over LMTP as a mail server would.
//!
//! Rule: a mail from an allow-listed sender, vouched for by the receiving server's
//! `Authentication-Results`, becomes one session of the configured group whose
//! origin is `message` from the plugin `email`, with that sender and the trust the
//! list gives (`contact`); a mail from anyone else starts nothing and is logged by
//! reason only, never with its address or words.

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

#[path = "../plugins/email/tests/support/servers.rs"]
mod servers;

#[allow(dead_code)]
#[path = "fixtures/email_core.rs"]
mod email_core;

use std::time::{Duration, Instant};

use email_core::{core_launched, servers_or_skip, wait_running};
use serde_json::Value;
use servers::USER;

const FRIEND: &str = "friend@example.test";
const STRANGER: &str = "stranger@example.test";

/// A mail as the receiving server (`mx.example.test`) passes it on: DKIM checked.
fn delivered(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test header.s=s1\r\n\
         From: {from}\r\nTo: {USER}\r\nSubject: {subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\
         Message-ID: <{}@example.test>\r\n\r\n{body}\r\n",
        servers::random_text(12)
    )
    .into_bytes()
}

fn agents_started(core: &common::TestCore) -> Vec<Value> {
    core.audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "agent.started")
        .collect()
}

#[test]
fn an_allowed_senders_mail_starts_a_session_as_that_contact_and_a_strangers_nothing() {
    if !harness::podman_or_skip("email message -> session") {
        return;
    }
    let Some(world) = servers_or_skip() else {
        return;
    };
    let rootfs = harness::agent_rootfs();
    let base = harness::config_with(rootfs.path(), "stream_agent.sh", 20, "");
    let poll = format!(
        "[plugins.email.config.poll]\ngroup = \"main\"\nallow = [\"{FRIEND}\"]\ninterval_secs = 1\nauthserv_id = \"mx.example.test\"\n"
    );
    let core = core_launched(&base, &world, &world.2.password(USER), &poll);
    wait_running(&core);
    // The first poll marks where INBOX stands; only mail after it counts.
    let seen = core.home.path().join("data/email/poll_seen");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.exists() {
        assert!(Instant::now() < deadline, "no first poll\n{}", core.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    let dovecot = &world.2;
    dovecot.deliver_lmtp(
        STRANGER,
        USER,
        &delivered(STRANGER, "WORDS-OF-A-STRANGER", "run rm -rf"),
    );
    dovecot.deliver_lmtp(
        FRIEND,
        USER,
        &delivered(FRIEND, "Lunch on Friday?", "Shall we meet at noon?"),
    );

    let started = core.wait_for_event("agent.started");
    let origin = &started["origin"];
    assert_eq!(origin["kind"], "message", "{started}");
    assert_eq!(origin["plugin"], "email");
    assert_eq!(origin["sender"], FRIEND);
    assert_eq!(origin["trust"], "contact");
    assert_eq!(started["group"], "main");

    // The stranger's mail, older, was decided first: refused, by reason only.
    let log = core.log();
    assert!(
        log.contains("email.poll_skipped reason=not_allowed"),
        "{log}"
    );
    assert!(!log.contains(STRANGER) && !log.contains("WORDS-OF-A-STRANGER"));
    // A while later still the one session only.
    std::thread::sleep(Duration::from_secs(3));
    let all = agents_started(&core);
    assert_eq!(all.len(), 1, "{all:?}");
}
