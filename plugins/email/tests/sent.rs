//! The copy of a sent mail in the Sent folder, against a real dovecot and
//! submission server: the very bytes the recipient got, in the folder marked
//! `\Sent` (or the one `sent_folder` names), none with `sent_folder = ""`, and a
//! send that cannot be saved still sent and saying so.

mod support;

use serde_json::{json, Value};
use support::proxy::Proxy;
use support::{World, OTHER, USER};

fn send(plugin: &carapace_plugin_sdk::testing::Harness, subject: &str) -> Value {
    plugin
        .call(
            "email_send",
            json!({"to": [OTHER], "subject": subject, "body": "Hello,\n.\nthe copy."}),
        )
        .expect("sent")
}

#[test]
fn a_sent_mail_is_kept_in_the_sent_folder_as_the_very_bytes_sent() {
    let Some(world) = World::start() else { return };
    let plugin = world.plugin();
    let answer = send(&plugin, "Kept copy");
    assert_eq!(answer["sent"], true);
    assert_eq!(answer["saved"], true, "{answer}");
    assert_eq!(
        answer["saved_in"], "Sent Messages",
        "the folder marked \\Sent"
    );
    let kept = world.messages(USER, "Sent Messages");
    assert_eq!(kept.len(), 1);
    let (copy, seen) = &kept[0];
    assert!(seen, "the copy is marked read");
    let delivered = world.messages(OTHER, "INBOX");
    assert_eq!(delivered.len(), 1);
    // The recipient's copy is the sent bytes after the headers added on the way.
    assert!(
        delivered[0].0.ends_with(copy),
        "delivered:\n{}\nkept:\n{}",
        String::from_utf8_lossy(&delivered[0].0),
        String::from_utf8_lossy(copy)
    );
    let text = String::from_utf8_lossy(copy);
    assert!(text.contains("Subject: Kept copy\r\n"), "{text}");
    assert!(text.contains("Hello,\r\n.\r\nthe copy."), "{text}");
}

#[test]
fn no_copy_when_off_a_named_folder_and_a_missing_one_never_fails_the_send() {
    let Some(world) = World::start() else { return };
    let mut off = world.config();
    off["sent_folder"] = json!("");
    let answer = send(&world.plugin_with("off", off), "Not kept");
    assert_eq!(answer["saved"], false);
    assert_eq!(answer["not_saved"], "sent_folder is off");
    assert!(world.messages(USER, "Sent Messages").is_empty());

    let mut session = world.session(USER);
    session
        .command()
        .create("Gesendete &ANw-bersicht")
        .expect("CREATE");
    let _ = session.command().logout();
    let mut named = world.config();
    named["sent_folder"] = json!("Gesendete Übersicht");
    let answer = send(&world.plugin_with("named", named), "Named folder");
    assert_eq!(answer["saved_in"], "Gesendete Übersicht", "{answer}");
    assert_eq!(world.messages(USER, "Gesendete &ANw-bersicht").len(), 1);

    let mut missing = world.config();
    missing["sent_folder"] = json!("Nowhere");
    let answer = send(&world.plugin_with("missing", missing), "Still sent");
    assert_eq!(answer["sent"], true);
    assert_eq!(answer["saved"], false, "{answer}");
    assert_eq!(
        answer["not_saved"],
        "the IMAP server refused to store the copy"
    );
    assert_eq!(
        world.messages(OTHER, "INBOX").len(),
        3,
        "every mail went out"
    );
    assert!(world.messages(USER, "Sent Messages").is_empty());
}

#[test]
fn a_lost_append_answer_never_stores_a_second_copy() {
    let Some(world) = World::start() else { return };
    let proxy = Proxy::start(world.dovecot.imaps_port);
    let mut config = world.config();
    config["imap"]["port"] = json!(proxy.port);
    let plugin = world.plugin_with("lost-ok", config);
    // The kept session's NOOP and LIST are a few hundred bytes under TLS; the
    // APPEND carries the mail (a 20 KB body): the server stores it, and its OK
    // is cut on the way back.
    *proxy.cut_answer_after.lock().expect("arm") = Some(8_000);
    let body = "A long line of the mail body, repeated.\n".repeat(500);
    let answer = plugin
        .call(
            "email_send",
            json!({"to": [OTHER], "subject": "Lost OK", "body": body}),
        )
        .expect("sent");
    assert_eq!(answer["sent"], true, "{answer}");
    assert_eq!(answer["saved"], false, "{answer}");
    assert!(
        answer["not_saved"]
            .as_str()
            .is_some_and(|s| s.contains("may or may not")),
        "{answer}"
    );
    assert_eq!(
        world.messages(USER, "Sent Messages").len(),
        1,
        "stored once, not again on a new session"
    );
    assert_eq!(world.messages(OTHER, "INBOX").len(), 1);
}
