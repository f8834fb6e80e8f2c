//! Search, read, move and folders against a real dovecot (implicit TLS, a CA made
//! at run time): every filter, plain/HTML/multipart bodies, attachments listed and
//! not fetched, a capped oversize body, a stale id, folders and moves.

mod support;

use serde_json::{json, Value};
use support::{error_of, mail, World, USER};

fn ids(answer: &Value) -> Vec<String> {
    answer["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

fn subjects(answer: &Value) -> Vec<String> {
    answer["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn search_filters_each_narrow_the_hits() {
    let Some(world) = World::start() else { return };
    world.append(
        USER,
        "INBOX",
        &mail(
            "Carol <carol@example.test>",
            "Invoice 42",
            "Please pay the invoice.",
        ),
        true,
    );
    world.append(
        USER,
        "INBOX",
        &mail("dave@example.test", "Lunch", "Lunch at noon?"),
        false,
    );
    let old = "From: carol@example.test\r\nSubject: Old news\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nold\r\n";
    world.append(USER, "INBOX", old.as_bytes(), true);
    let plugin = world.plugin();

    let all = plugin.call("email_search", json!({})).expect("search all");
    assert_eq!(all["total"], 3);
    assert_eq!(
        subjects(&all),
        vec!["Old news", "Lunch", "Invoice 42"],
        "newest first"
    );
    let first = &all["messages"][2];
    assert_eq!(first["from"][0], "Carol <carol@example.test>");
    assert_eq!(first["unread"], false);

    let text = plugin
        .call("email_search", json!({"query": "invoice"}))
        .expect("query");
    assert_eq!(subjects(&text), vec!["Invoice 42"]);
    let from = plugin
        .call("email_search", json!({"from": "carol@example.test"}))
        .expect("from");
    assert_eq!(from["total"], 2);
    let unread = plugin
        .call("email_search", json!({"unread": true}))
        .expect("unread");
    assert_eq!(subjects(&unread), vec!["Lunch"]);
    let read = plugin
        .call("email_search", json!({"unread": false}))
        .expect("read");
    assert_eq!(read["total"], 2);
    // dovecot's SINCE uses the internal (arrival) date: all three arrived today.
    let since = plugin
        .call("email_search", json!({"since": "2020-01-01"}))
        .expect("since");
    assert_eq!(since["total"], 3);
    let future = plugin
        .call("email_search", json!({"since": "2099-01-01"}))
        .expect("since");
    assert_eq!(future["total"], 0);
    let limited = plugin
        .call("email_search", json!({"limit": 1}))
        .expect("limit");
    assert_eq!(subjects(&limited), vec!["Old news"]);
    assert_eq!(limited["total"], 3);
    let combined = plugin
        .call(
            "email_search",
            json!({"from": "carol", "unread": false, "query": "pay"}),
        )
        .expect("combined");
    assert_eq!(subjects(&combined), vec!["Invoice 42"]);

    let (code, _, field) = error_of(plugin.call("email_search", json!({"since": "2026-02-30"})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("since"))
    );
    let (code, _, field) = error_of(plugin.call("email_search", json!({"folder": "Nope"})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("folder"))
    );
}

/// Rule: no search text becomes IMAP syntax. Each attempt must find exactly what a
/// literal search for that text finds (nothing here), leave the session usable,
/// and not touch the mailbox.
#[test]
fn search_text_cannot_inject_imap() {
    let Some(world) = World::start() else { return };
    world.append(
        USER,
        "INBOX",
        &mail("eve@example.test", "Secret plans", "the plans"),
        false,
    );
    world.append(
        USER,
        "INBOX",
        &mail("bob@example.test", "Hello", "hello there"),
        false,
    );
    let plugin = world.plugin();
    let attempts = [
        "x\" OR ALL \"",
        "x\") (ALL",
        "\\\" ALL",
        "x\r\nA1 DELETE INBOX",
        "x\r\nA1 STORE 1:* +FLAGS (\\Deleted)\r\nA2 EXPUNGE",
        "{5}\r\nhello",
        "{5+}\r\nALL",
        "x) OR (FROM eve",
        "hello\" FROM \"eve",
        "ünïcode\r\n* OK",
    ];
    for attempt in attempts {
        for key in ["query", "from"] {
            let answer = plugin.call("email_search", json!({key: attempt}));
            let answer = answer.unwrap_or_else(|e| panic!("{key}={attempt:?}: {e:?}"));
            assert_eq!(answer["total"], 0, "{key}={attempt:?} found {answer}");
        }
    }
    let (code, _, field) = error_of(plugin.call("email_search", json!({"query": "a\u{0}b"})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("query"))
    );
    // Still both messages, still unread, still answering.
    let all = plugin
        .call("email_search", json!({"unread": true}))
        .expect("after");
    assert_eq!(all["total"], 2);
    // A quote inside the text is searched for as a quote.
    world.append(
        USER,
        "INBOX",
        &mail("q@example.test", "He said \"hi\" (twice)", "x"),
        false,
    );
    let quoted = plugin
        .call("email_search", json!({"query": "said \"hi\" (twice"}))
        .expect("quoted");
    assert_eq!(quoted["total"], 1);
    let unicode = {
        world.append(
            USER,
            "INBOX",
            &mail("u@example.test", "Grüße", "Schöne Grüße aus Köln"),
            false,
        );
        plugin
            .call("email_search", json!({"query": "Köln"}))
            .expect("unicode")
    };
    assert_eq!(unicode["total"], 1);
}

#[test]
fn read_plain_html_and_multipart_with_attachments() {
    let Some(world) = World::start() else { return };
    world.append(
        USER,
        "INBOX",
        &mail("a@example.test", "Plain", "Just text.\r\nSecond line."),
        false,
    );
    let html = "From: b@example.test\r\nSubject: Html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{color:red}</style><script>steal()</script></head><body><p>Hello <b>World</b></p></body></html>\r\n";
    world.append(USER, "INBOX", html.as_bytes(), false);
    let multipart = concat!(
        "From: c@example.test\r\nTo: alice@example.test\r\nSubject: Report\r\nMessage-ID: <report-1@example.test>\r\n",
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n",
        "--XX\r\nContent-Type: multipart/alternative; boundary=\"YY\"\r\n\r\n",
        "--YY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe report is attached.\r\n",
        "--YY\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>The <b>report</b> is attached.</p>\r\n--YY--\r\n",
        "--XX\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n",
        "--XX\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"=?utf-8?q?Gr=C3=BC=C3=9Fe.png?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n",
        "--XX--\r\n"
    );
    world.append(USER, "INBOX", multipart.as_bytes(), false);
    let plugin = world.plugin();
    let found = plugin.call("email_search", json!({})).expect("search");
    let ids = ids(&found);

    let report = plugin
        .call("email_read", json!({"id": ids[0]}))
        .expect("read multipart");
    assert_eq!(report["subject"], "Report");
    assert_eq!(
        report["body"].as_str().expect("test value").trim(),
        "The report is attached."
    );
    assert_eq!(report["message_id"], "<report-1@example.test>");
    assert_eq!(report["content_trust"], "unknown");
    let attachments = report["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    assert_eq!(attachments[0]["name"], "report.pdf");
    assert_eq!(attachments[0]["type"], "application/pdf");
    assert!(attachments[0]["size"].as_u64().expect("test value") > 0);
    assert_eq!(attachments[1]["name"], "Grüße.png");
    assert_eq!(attachments[1]["type"], "image/png");
    assert!(
        !report.to_string().contains("JVBERi0"),
        "attachment content fetched into the answer"
    );

    let html = plugin
        .call("email_read", json!({"id": ids[1]}))
        .expect("read html");
    let body = html["body"].as_str().expect("test value");
    assert!(body.contains("Hello") && body.contains("World"), "{body}");
    assert!(
        !body.contains("steal") && !body.contains("<b>") && !body.contains("color"),
        "{body}"
    );

    let plain = plugin
        .call("email_read", json!({"id": ids[2]}))
        .expect("read plain");
    assert_eq!(
        plain["body"].as_str().expect("test value").trim_end(),
        "Just text.\nSecond line."
    );
    assert_eq!(plain["body_truncated"], false);
    assert_eq!(plain["attachments"], json!([]));

    // Reading is a peek: the message stays unread.
    let unread = plugin
        .call("email_search", json!({"unread": true}))
        .expect("unread");
    assert_eq!(unread["total"], 3);
}

#[test]
fn an_oversize_body_is_capped_and_a_huge_mail_is_not_fetched_whole() {
    let Some(world) = World::start() else { return };
    let big = format!(
        "From: big@example.test\r\nSubject: Big\r\n\r\n{}\r\n",
        "0123456789\r\n".repeat(500_000)
    );
    world.append(USER, "INBOX", big.as_bytes(), false);
    let plugin = world.plugin();
    let found = plugin.call("email_search", json!({})).expect("search");
    let read = plugin
        .call("email_read", json!({"id": found["messages"][0]["id"]}))
        .expect("read");
    assert_eq!(read["body_truncated"], true);
    assert_eq!(
        read["body"].as_str().expect("test value").chars().count(),
        20_000
    );
    assert!(read["size"].as_u64().expect("test value") > 5_000_000);
}

#[test]
fn stale_and_malformed_ids_are_refused() {
    let Some(world) = World::start() else { return };
    world.append(USER, "INBOX", &mail("a@example.test", "One", "one"), false);
    let plugin = world.plugin();
    let found = plugin.call("email_search", json!({})).expect("search");
    let id = ids(&found)[0].clone();
    let (folder_and_validity, uid) = id.rsplit_once('/').expect("test value");
    let (folder, validity) = folder_and_validity.rsplit_once('/').expect("test value");
    let stale = format!(
        "{folder}/{}/{uid}",
        validity.parse::<u32>().expect("test value") + 1
    );
    let (code, message, field) = error_of(plugin.call("email_read", json!({"id": stale})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("id"))
    );
    assert!(message.contains("stale"), "{message}");
    let gone = format!("{folder}/{validity}/999");
    let (code, _, field) = error_of(plugin.call("email_read", json!({"id": gone})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("id"))
    );
    let (code, _, field) = error_of(plugin.call("email_read", json!({"id": "not-an-id"})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("id"))
    );
    let (code, _, field) = error_of(plugin.call("email_read", json!({"id": "Nope/1/1"})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("id"))
    );
}

#[test]
fn folders_are_listed_and_a_move_files_the_message() {
    let Some(world) = World::start() else { return };
    world.append(
        USER,
        "INBOX",
        &mail("a@example.test", "File me", "x"),
        false,
    );
    let plugin = world.plugin();
    let folders = plugin
        .call("email_list_folders", json!({}))
        .expect("folders");
    let names: Vec<&str> = folders["folders"]
        .as_array()
        .expect("test value")
        .iter()
        .map(|f| f["name"].as_str().expect("test value"))
        .collect();
    assert!(
        names.contains(&"INBOX") && names.contains(&"Archive") && names.contains(&"Trash"),
        "{names:?}"
    );
    let id = ids(&plugin.call("email_search", json!({})).expect("search"))[0].clone();
    let moved = plugin
        .call("email_move", json!({"id": id, "folder": "Archive"}))
        .expect("move");
    assert_eq!(moved["folder"], "Archive");
    assert_eq!(
        plugin.call("email_search", json!({})).expect("inbox")["total"],
        0
    );
    let archived = plugin
        .call("email_search", json!({"folder": "Archive"}))
        .expect("archive");
    assert_eq!(subjects(&archived), vec!["File me"]);
    // The old id now names nothing.
    let (code, _, field) = error_of(plugin.call("email_read", json!({"id": id})));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("id"))
    );
    let archived_id = ids(&archived)[0].clone();
    let (code, _, field) = error_of(plugin.call(
        "email_move",
        json!({"id": archived_id, "folder": "Nowhere"}),
    ));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION_FAILED", Some("folder"))
    );
}

#[test]
fn folder_names_are_unicode_to_the_agent_and_modified_utf7_on_the_wire() {
    let Some(world) = World::start() else { return };
    let mut session = world.session(USER);
    session.command().create("Entw&APw-rfe").expect("CREATE");
    let _ = session.command().logout();
    world.append(USER, "INBOX", &mail("a@example.test", "Draft", "x"), false);
    let plugin = world.plugin();
    let folders = plugin
        .call("email_list_folders", json!({}))
        .expect("folders");
    assert!(folders.to_string().contains("\"Entwürfe\""), "{folders}");
    let id = ids(&plugin.call("email_search", json!({})).expect("search"))[0].clone();
    plugin
        .call("email_move", json!({"id": id, "folder": "Entwürfe"}))
        .expect("move");
    let moved = plugin
        .call("email_search", json!({"folder": "Entwürfe"}))
        .expect("search the folder");
    assert_eq!(subjects(&moved), vec!["Draft"]);
    let moved_id = ids(&moved)[0].clone();
    assert!(moved_id.starts_with("Entwürfe/"), "{moved_id}");
    let read = plugin
        .call("email_read", json!({"id": moved_id}))
        .expect("read");
    assert_eq!(read["subject"], "Draft");
}

#[test]
fn a_message_nested_past_the_parsers_bound_is_still_read() {
    // Forty multiparts deep (a mail forwarded inside itself, or built to hurt):
    // the server's BODYSTRUCTURE nests past what the IMAP parser is let go to, so
    // the plugin reads it again and lists the attachments from the fetched bytes.
    let Some(world) = World::start() else { return };
    const DEPTH: usize = 40;
    let mut raw = String::from(
        "From: deep@example.test\r\nTo: alice@example.test\r\nSubject: Deep\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n--b0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTop text.\r\n",
    );
    for level in 1..DEPTH {
        raw.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n",
            level - 1
        ));
    }
    raw.push_str(&format!(
        "--b{}\r\nContent-Type: application/pdf; name=\"deep.pdf\"\r\nContent-Disposition: attachment; filename=\"deep.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n",
        DEPTH - 1
    ));
    for level in (0..DEPTH).rev() {
        raw.push_str(&format!("--b{level}--\r\n"));
    }
    world.append(USER, "INBOX", raw.as_bytes(), false);
    world.append(
        USER,
        "INBOX",
        &mail("a@example.test", "Plain", "Just text."),
        false,
    );
    let plugin = world.plugin();
    let found = plugin.call("email_search", json!({})).expect("search");
    assert_eq!(subjects(&found), ["Plain", "Deep"]);
    let ids = ids(&found);
    let deep = plugin
        .call("email_read", json!({"id": ids[1]}))
        .expect("read the deep one");
    assert_eq!(deep["subject"], "Deep");
    assert_eq!(deep["body"].as_str().expect("body").trim(), "Top text.");
    let attachments = deep["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1, "{deep}");
    assert_eq!(attachments[0]["name"], "deep.pdf");
    assert_eq!(attachments[0]["type"], "application/pdf");
    assert!(deep["attachments_note"].is_string(), "{deep}");
    assert_eq!(deep["content_trust"], "unknown");
    // 25,000 messages nested as message/rfc822 parts (850 KB): mail-parser builds
    // a tree that deep, which must not be dropped recursively (a stack overflow
    // would kill the plugin).
    let mut forwards = b"From: deep@example.test\r\nSubject: Deep forwards\r\n".to_vec();
    for _ in 0..25_000 {
        forwards.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    forwards.extend_from_slice(b"Subject: innermost\r\n\r\nhello\r\n");
    world.append(USER, "INBOX", &forwards, false);
    let found = plugin.call("email_search", json!({})).expect("search");
    assert_eq!(subjects(&found)[0], "Deep forwards");
    let forwarded = plugin
        .call("email_read", json!({"id": found["messages"][0]["id"]}))
        .expect("read the deep forwards");
    assert_eq!(forwarded["subject"], "Deep forwards");

    // The plugin goes on: the next read uses the server's listing again.
    let plain = plugin
        .call("email_read", json!({"id": ids[0]}))
        .expect("read plain");
    assert_eq!(plain["attachments"], json!([]));
    assert!(plain.get("attachments_note").is_none(), "{plain}");
}
