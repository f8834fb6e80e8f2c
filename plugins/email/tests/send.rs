//! Sending through a real submission server (aiosmtpd with STARTTLS or implicit
//! TLS, AUTH) that delivers to dovecot over LMTP, then reading the mail back over
//! IMAP; refused recipients and header injection never reach the server.

mod support;

use serde_json::{json, Value};
use support::{error_of, Smtp, World, OTHER, USER};

fn inbox_of(world: &World, user: &str) -> Vec<String> {
    let mut session = world.session(user);
    session.command().select("INBOX").expect("select");
    let uids = session.command().uid_search("ALL").expect("search");
    let mut subjects = Vec::new();
    for uid in uids {
        let fetched = session
            .command()
            .uid_fetch(uid.to_string(), "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
            .expect("fetch");
        for f in fetched.iter() {
            let raw = f
                .header()
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .unwrap_or_default();
            subjects.push(raw.trim().trim_start_matches("Subject:").trim().to_owned());
        }
    }
    subjects
}

#[test]
fn a_sent_mail_arrives_and_reads_back() {
    let Some(world) = World::start() else { return };
    let plugin = world.plugin();
    let sent = plugin
        .call(
            "email_send",
            json!({
                "to": [OTHER],
                "cc": [USER],
                "subject": "Quarterly numbers",
                "body": "Hello Bob,\n\nthe numbers are in.\n.\nBcc: evil@example.test\n",
                "in_reply_to": "<thread-1@example.test>",
            }),
        )
        .expect("send");
    assert_eq!(sent["recipients"], json!([OTHER, USER]));
    assert_eq!(inbox_of(&world, OTHER), vec!["Quarterly numbers"]);
    let found = plugin
        .call("email_search", json!({"query": "Quarterly"}))
        .expect("search");
    assert_eq!(found["total"], 1);
    let id = found["messages"][0]["id"].as_str().expect("id").to_owned();
    let read: Value = plugin.call("email_read", json!({"id": id})).expect("read");
    assert_eq!(read["from"][0], format!("Alice <{USER}>"));
    assert_eq!(read["to"], json!([OTHER]));
    assert_eq!(read["cc"], json!([USER]));
    let body = read["body"].as_str().expect("body");
    assert!(
        body.contains("the numbers are in.\n.\nBcc: evil@example.test"),
        "{body}"
    );
    // The body's "Bcc:" line stayed body: nobody else got the mail.
    let mut session = world.session(USER);
    session.command().select("INBOX").expect("select");
    let raw = session
        .command()
        .uid_fetch("1:*", "BODY.PEEK[HEADER]")
        .expect("header");
    let header = String::from_utf8_lossy(
        raw.iter()
            .next()
            .and_then(|f| f.header())
            .expect("a header"),
    )
    .into_owned();
    assert!(
        header.contains("In-Reply-To: <thread-1@example.test>"),
        "{header}"
    );
    assert!(!header.contains("Bcc"), "{header}");
}

#[test]
fn implicit_tls_submission_works_too() {
    let Some(world) = World::start() else { return };
    let smtps = Smtp::start(world.dir.path(), &world.certs, &world.dovecot, "tls", None);
    let mut config = world.config();
    config["smtp"]["port"] = json!(smtps.port);
    config["smtp"]["security"] = json!("tls");
    let plugin = world.plugin_with("tls", config);
    plugin
        .call(
            "email_send",
            json!({"to": [OTHER], "subject": "Over TLS", "body": "x"}),
        )
        .expect("send");
    assert_eq!(inbox_of(&world, OTHER), vec!["Over TLS"]);
}

/// Rule: a header or a recipient cannot be smuggled through any argument; the
/// refusal names the field and nothing reaches the server.
#[test]
fn header_injection_and_bad_recipients_are_refused_before_the_server() {
    let Some(world) = World::start() else { return };
    let plugin = world.plugin();
    let attempts = [
        (
            json!({"to": [OTHER], "subject": "Hi\r\nBcc: evil@example.test", "body": "x"}),
            "subject",
        ),
        (
            json!({"to": [OTHER], "subject": "Hi\nBcc: evil@example.test", "body": "x"}),
            "subject",
        ),
        (
            json!({"to": [format!("{OTHER}\r\nBcc: evil@example.test")], "subject": "Hi", "body": "x"}),
            "to.0",
        ),
        (
            json!({"to": [format!("{OTHER}, evil@example.test")], "subject": "Hi", "body": "x"}),
            "to.0",
        ),
        (
            json!({"to": [OTHER], "cc": ["Evil <evil@example.test>"], "subject": "Hi", "body": "x"}),
            "cc.0",
        ),
        (
            json!({"to": [OTHER], "cc": ["not an address"], "subject": "Hi", "body": "x"}),
            "cc.0",
        ),
        (json!({"to": [], "subject": "Hi", "body": "x"}), "to"),
        (
            json!({"to": [OTHER], "subject": "Hi", "body": "x", "in_reply_to": "<a@b>\r\nBcc: evil@example.test"}),
            "in_reply_to",
        ),
    ];
    for (arguments, field) in attempts {
        let (code, _, got) = error_of(plugin.call("email_send", arguments.clone()));
        assert_eq!(
            (code.as_str(), got.as_deref()),
            ("VALIDATION_FAILED", Some(field)),
            "{arguments}"
        );
    }
    assert!(inbox_of(&world, OTHER).is_empty());
}

#[test]
fn a_refusing_or_untrusted_smtp_server_is_a_structured_error() {
    let Some(world) = World::start() else { return };
    // Untrusted certificate: the SMTP side trusts another CA.
    let mut config = world.config();
    config["smtp"]["ca_file"] = json!(world.certs.other_ca);
    let plugin = world.plugin_with("badca", config);
    let (code, message, _) = error_of(plugin.call(
        "email_send",
        json!({"to": [OTHER], "subject": "x", "body": "x"}),
    ));
    assert_eq!(code, "HANDLER_ERROR");
    assert!(
        message.starts_with("TLS_ERROR") || message.starts_with("UPSTREAM_UNAVAILABLE"),
        "{message}"
    );
    // Nobody listening.
    let mut config = world.config();
    config["smtp"]["port"] = json!(support::free_port());
    let plugin = world.plugin_with("down", config);
    let error = plugin
        .call(
            "email_send",
            json!({"to": [OTHER], "subject": "x", "body": "x"}),
        )
        .expect_err("refused");
    assert!(
        error.message.starts_with("UPSTREAM_UNAVAILABLE"),
        "{}",
        error.message
    );
    assert!(error.retriable());
    assert!(inbox_of(&world, OTHER).is_empty());
}
