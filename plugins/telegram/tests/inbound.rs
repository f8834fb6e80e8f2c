//! Messages in, answers out, through the plugin's real polling and HTTP client
//! against the Bot API stand-in.
//!
//! Rule: only a listed user in a mapped chat reaches the agent, with the trust the
//! config gives them; anything else is refused and logged by ids alone, never by
//! what it said; the answer goes back to the chat that asked, as a reply to the
//! message that asked.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Bot, CONTACT, FAMILY_CHAT, OWNER, STRANGER, WAIT};

#[test]
fn an_owners_message_reaches_the_agent_and_the_answer_replies_to_it() {
    let bot = Bot::start();
    let inbound = bot.owner_says("what is on today?");
    assert_eq!(inbound["group"], "main");
    let payload = &inbound["payload"];
    assert_eq!(payload["sender"], OWNER.to_string());
    assert_eq!(payload["sender_name"], "Ann");
    assert_eq!(payload["trust"], "owner");
    assert_eq!(payload["chat"], OWNER);
    let asked = payload["message_id"].as_i64().expect("message id");
    // "typing…" while the agent works.
    let typing = bot.api.wait_ok("sendChatAction", 1, WAIT);
    assert_eq!(typing, json!({"chat_id": OWNER, "action": "typing"}));

    bot.completed(&inbound, "Two meetings: 10:00 and 15:00.");
    bot.api.wait_ok("sendMessage", 1, WAIT);
    let shown = bot.api.shown_in(OWNER);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].text, "Two meetings: 10:00 and 15:00.");
    assert_eq!(
        shown[0].reply_to,
        Some(asked),
        "a reply to the message that asked"
    );
}

#[test]
fn a_contact_in_a_group_chat_is_a_contact() {
    let bot = Bot::start();
    bot.api.message(FAMILY_CHAT, CONTACT, "Bo", "hello bot");
    let inbound = bot
        .published(|p| p["text"] == "hello bot")
        .expect("published");
    assert_eq!(inbound["group"], "family");
    assert_eq!(inbound["payload"]["trust"], "contact");
    assert_eq!(inbound["payload"]["sender"], CONTACT.to_string());
    assert_eq!(inbound["payload"]["chat"], FAMILY_CHAT);
}

#[test]
fn strangers_and_unmapped_chats_are_dropped_and_logged_without_content() {
    let bot = Bot::start();
    bot.api
        .message(OWNER, STRANGER, "Eve", "SECRET-one: wire the money");
    bot.api
        .message(-555, OWNER, "Ann", "SECRET-two from an unmapped chat");
    bot.api
        .message(FAMILY_CHAT, STRANGER, "Eve", "SECRET-three");
    // A message after them goes through: the refused ones were consumed, not stuck.
    let after = bot.owner_says("still here");
    assert_eq!(after["payload"]["trust"], "owner");
    let published = bot.all_published();
    assert_eq!(published.len(), 1, "{published:?}");
    let logs = bot.logs();
    let refused: Vec<&String> = logs
        .iter()
        .filter(|l| l.starts_with("telegram.refused"))
        .collect();
    assert_eq!(
        refused,
        [
            &format!("telegram.refused reason=unknown_user chat={OWNER} user={STRANGER}"),
            &format!("telegram.refused reason=unmapped_chat chat=-555 user={OWNER}"),
            &format!("telegram.refused reason=unknown_user chat={FAMILY_CHAT} user={STRANGER}"),
        ]
    );
    // Nothing of what they said reached the core, the log or a chat.
    for (method, params) in bot.harness.notifications() {
        assert!(!params.to_string().contains("SECRET"), "{method}: {params}");
    }
    assert!(bot.api.calls_of("sendMessage").is_empty());
}

#[test]
fn only_the_owner_may_command_and_others_are_told() {
    let bot = Bot::start();
    bot.api.message(FAMILY_CHAT, CONTACT, "Bo", "/stop");
    let told = bot.api.wait_ok("sendMessage", 1, WAIT);
    assert_eq!(told["text"], "Only the owner can do that.");
    assert!(bot.harness.core_requests().is_empty(), "no pause was asked");
    assert!(bot
        .logs()
        .iter()
        .any(|l| l.starts_with("telegram.refused reason=not_owner_command")));
}

#[test]
fn typing_is_renewed_while_the_agent_works_and_stops_with_the_answer() {
    let bot = Bot::start();
    let inbound = bot.owner_says("think hard");
    let calls = bot.api.wait_calls(Duration::from_secs(12), |calls| {
        calls
            .iter()
            .filter(|c| c.method == "sendChatAction")
            .count()
            >= 2
    });
    let actions: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "sendChatAction")
        .collect();
    let gap = actions[1].at - actions[0].at;
    assert!(
        gap >= Duration::from_millis(3500) && gap <= Duration::from_secs(6),
        "renewed every ~4 s: {gap:?}"
    );
    bot.completed(&inbound, "done");
    bot.api.wait_ok("sendMessage", 1, WAIT);
    let before = bot.api.calls_of("sendChatAction").len();
    std::thread::sleep(Duration::from_millis(4600));
    assert_eq!(
        bot.api.calls_of("sendChatAction").len(),
        before,
        "no typing after the answer"
    );
}

#[test]
fn an_answer_for_another_plugin_or_an_unmapped_chat_is_not_sent() {
    let bot = Bot::start();
    let inbound = bot.owner_says("hi");
    let mut other = inbound.clone();
    other["payload"]["chat"] = json!(-555);
    bot.completed(&other, "to an unmapped chat");
    let mut wrong_group = inbound.clone();
    wrong_group["group"] = json!("family");
    bot.completed(&wrong_group, "to a chat of another group");
    bot.event(
        "agent.completed",
        json!({"session": "s2", "group": "main", "answer": "another channel's",
               "origin": {"topic": "message.inbound", "plugin": "mail",
                          "payload": inbound["payload"]}}),
    );
    bot.event(
        "agent.error",
        json!({"session": "s1", "group": "main", "error": "container failed: /var/secret/path",
               "origin": {"topic": "message.inbound", "plugin": "telegram",
                          "payload": inbound["payload"]}}),
    );
    let notice = bot.api.wait_ok("sendMessage", 1, WAIT);
    assert!(
        notice["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Sorry: the agent stopped")),
        "{notice}"
    );
    assert!(!notice.to_string().contains("/var/secret"));
    std::thread::sleep(Duration::from_millis(500));
    let texts: Vec<String> = bot
        .api
        .calls_of("sendMessage")
        .iter()
        .map(|c| c.params["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts.len(), 1, "only the error notice: {texts:?}");
}

/// A server that answers every poll with updates below the offset (or without an id)
/// must not make the poller ask again at once, forever: it backs off, says so, and
/// still takes new updates. Seen failing before: about a thousand polls a second.
#[test]
fn a_batch_that_does_not_move_the_offset_is_not_asked_again_at_once() {
    let bot = Bot::start();
    bot.owner_says("first");
    bot.api.serve_stale(
        json!({"update_id": 5, "message": {"message_id": 1, "date": 1,
        "chat": {"id": OWNER, "type": "private"}, "text": "old"}}),
    );
    bot.api.serve_stale(json!({"no_update_id": true}));
    let polls = || bot.api.calls_of("getUpdates").len();
    std::thread::sleep(Duration::from_millis(300));
    let from = polls();
    std::thread::sleep(Duration::from_secs(2));
    let during = polls() - from;
    assert!(during <= 4, "{during} polls in 2 s: the poller spins");
    let logs = bot.logs();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("telegram.poll_stuck updates=2 offset=")),
        "{logs:?}"
    );
    assert_eq!(
        bot.all_published().len(),
        1,
        "the stale update is not handled"
    );
}
