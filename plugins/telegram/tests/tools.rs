//! `send_telegram` and `get_telegram_history` as a session calls them.
//!
//! Rule: a tool acts only on a chat the config maps to the calling session's group;
//! the history it reads is bounded by `history_per_chat`.

mod support;

use serde_json::json;
use support::{Bot, FAMILY_CHAT, OWNER};

#[test]
fn send_telegram_reaches_only_the_chats_of_the_callers_group() {
    let bot = Bot::start();
    let sent = bot
        .call(
            "main",
            "send_telegram",
            json!({"chat": OWNER.to_string(), "text": "a < b _x_"}),
        )
        .expect("sent");
    assert_eq!(sent["messages"], 1);
    assert_eq!(bot.api.shown_in(OWNER)[0].text, "a < b _x_");
    for (group, chat) in [
        ("main", FAMILY_CHAT.to_string()),
        ("family", OWNER.to_string()),
        ("main", "-555".to_owned()),
        ("other", OWNER.to_string()),
    ] {
        let refused = bot
            .call(
                group,
                "send_telegram",
                json!({"chat": chat, "text": "leak"}),
            )
            .expect_err("another group's chat");
        assert_eq!(
            refused.data_str("code"),
            Some("VALIDATION_FAILED"),
            "{group} {chat}"
        );
        assert_eq!(refused.data_str("field"), Some("chat"));
        assert!(
            !refused.message.contains("family"),
            "names no group: {}",
            refused.message
        );
    }
    assert!(bot.api.shown_in(FAMILY_CHAT).is_empty());
    assert_eq!(bot.api.calls_of("sendMessage").len(), 1);
}

#[test]
fn a_send_telegram_failure_is_retriable_and_says_nothing_of_the_request() {
    let bot = Bot::start();
    bot.api
        .fail_next("sendMessage", vec![support::Fault::ServerError; 3]);
    let error = bot
        .call(
            "main",
            "send_telegram",
            json!({"chat": OWNER.to_string(), "text": "hi"}),
        )
        .expect_err("the API failed");
    assert_eq!(error.data_str("code"), Some("HANDLER_ERROR"));
    assert!(error.retriable());
    assert!(!error.message.contains(&bot.token));
    assert!(!error.message.contains("127.0.0.1"), "{}", error.message);
}

#[test]
fn history_is_the_newest_messages_of_the_groups_chats_and_bounded() {
    let bot = Bot::start_with(|mut config| {
        config["history_per_chat"] = json!(3);
        config
    });
    for n in 1..=5 {
        bot.owner_says(&format!("message {n}"));
    }
    // A message is kept in the history just after it is handed to the core.
    let file = bot.dir.path().join(format!("data/history/{OWNER}.jsonl"));
    let deadline = std::time::Instant::now() + support::WAIT;
    while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains("message 5")) {
        assert!(std::time::Instant::now() < deadline, "message 5 never kept");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    bot.call(
        "main",
        "send_telegram",
        json!({"chat": OWNER.to_string(), "text": "from the bot"}),
    )
    .expect("sent");
    let history = bot
        .call_with_trust(
            "main",
            "get_telegram_history",
            json!({"chat": OWNER.to_string(), "limit": 100}),
            "owner",
        )
        .expect("history");
    // A session a contact (or a stranger, or nobody known) started cannot read
    // the owner's private chat out to them (seen failing without the check).
    for trust in ["contact", "unknown"] {
        let refused = bot
            .call_with_trust(
                "main",
                "get_telegram_history",
                json!({"chat": OWNER.to_string()}),
                trust,
            )
            .expect_err("the owner's chat");
        assert_eq!(refused.data_str("field"), Some("chat"), "{trust}");
    }
    bot.call(
        "main",
        "get_telegram_history",
        json!({"chat": OWNER.to_string()}),
    )
    .expect_err("no origin: not the owner");
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["message 4", "message 5", "from the bot"]);
    let newest = &history["messages"][1];
    assert_eq!(newest["direction"], "in");
    assert_eq!(newest["trust"], "owner");
    assert_eq!(newest["user_id"], OWNER);
    assert_eq!(history["messages"][2]["direction"], "out");
    let two = bot
        .call_with_trust(
            "main",
            "get_telegram_history",
            json!({"chat": OWNER.to_string(), "limit": 2}),
            "owner",
        )
        .expect("history");
    assert_eq!(two["messages"].as_array().map(Vec::len), Some(2));
    let chats = bot
        .call("main", "get_telegram_history", json!({}))
        .expect("chats");
    assert_eq!(chats, json!({"chats": [OWNER.to_string()]}));
    let refused = bot
        .call(
            "family",
            "get_telegram_history",
            json!({"chat": OWNER.to_string()}),
        )
        .expect_err("another group's chat");
    assert_eq!(refused.data_str("field"), Some("chat"));
    let lines = std::fs::read_to_string(bot.dir.path().join(format!("data/history/{OWNER}.jsonl")))
        .expect("history file");
    assert!(lines.lines().count() <= 6, "bounded on disk: {lines}");
}
