//! `/stop`, `/resume` and `/status` from the owner's chat, with the core played by the
//! SDK harness (answers shaped as the core's `group/*` answers).
//!
//! Rule: an owner's command asks the core about the chat's own group, names who
//! asked, and answers in the chat; without the capability it says so.

mod support;

use carapace_plugin_sdk::{JsonRpcError, METHOD_NOT_FOUND};
use serde_json::json;
use support::{Bot, OWNER, WAIT};

#[test]
fn stop_status_and_resume_act_on_the_chats_group() {
    let bot = Bot::start();
    bot.harness.on_request(|method, params| match method {
        "group/pause" => Ok(json!({"group": params["group"], "newly": true, "persisted": true,
                                   "denied": ["c1"], "stopped": ["s1", "s2"], "closed": [], "failed": []})),
        "group/status" => Ok(json!({"group": params["group"], "paused": true,
            "pause": {"by": "Ann (Telegram user 111)", "plugin": "telegram", "at": "2026-12-03T10:00:00Z"},
            "sessions": [], "pending": []})),
        "group/resume" => Ok(json!({"group": params["group"], "resumed": true})),
        _ => Err(JsonRpcError::new(METHOD_NOT_FOUND, "no")),
    });
    bot.api.message(OWNER, OWNER, "Ann", "/stop");
    let answer = bot.api.wait_ok("sendMessage", 1, WAIT);
    assert_eq!(
        answer["text"],
        "⏸ Group main is paused: 2 session(s) stopped, 1 approval(s) denied. New messages are refused until /resume."
    );
    bot.api
        .message(OWNER, OWNER, "Ann", "/status@carapace_test_bot");
    let status = bot.api.wait_ok("sendMessage", 2, WAIT);
    assert!(status["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("Group main: ⏸ paused by Ann (Telegram user 111)")));
    bot.api.message(OWNER, OWNER, "Ann", "/resume");
    let resumed = bot.api.wait_ok("sendMessage", 3, WAIT);
    assert_eq!(
        resumed["text"],
        "▶️ Group main is resumed: the agent may run again."
    );
    let asked = bot.harness.core_requests();
    assert_eq!(
        asked,
        vec![
            (
                "group/pause".to_owned(),
                json!({"group": "main", "by": "Ann (Telegram user 111)"})
            ),
            ("group/status".to_owned(), json!({"group": "main"})),
            (
                "group/resume".to_owned(),
                json!({"group": "main", "by": "Ann (Telegram user 111)"})
            ),
        ]
    );
    // Commands never reach the agent.
    assert!(bot.all_published().is_empty());
    let replies: Vec<Option<i64>> = bot.api.shown_in(OWNER).iter().map(|m| m.reply_to).collect();
    assert!(
        replies.iter().all(Option::is_some),
        "each answers its command"
    );
}

#[test]
fn without_the_capability_the_owner_is_told_where_to_stop() {
    let bot = Bot::start();
    bot.harness.on_request(|_, _| {
        Err(JsonRpcError {
            code: -32000,
            message: "this plugin's manifest does not declare the capability `kill_switch`".into(),
            data: Some(json!({"code": "NOT_CAPABLE"})),
        })
    });
    bot.api.message(OWNER, OWNER, "Ann", "/stop");
    let answer = bot.api.wait_ok("sendMessage", 1, WAIT);
    assert!(answer["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("The kill switch is not available here")));
}

#[test]
fn a_pause_by_someone_else_is_announced_and_a_paused_groups_message_explained() {
    let bot = Bot::start();
    bot.event(
        "group.paused",
        json!({"group": "main", "by": "cli", "plugin": null}),
    );
    let told = bot.api.wait_ok("sendMessage", 1, WAIT);
    assert_eq!(
        told["text"],
        "⏸ Group main was paused by the owner at the host. New messages are refused until it is resumed."
    );
    // Its own pause is not announced twice.
    bot.event(
        "group.paused",
        json!({"group": "main", "by": "Ann", "plugin": "telegram"}),
    );
    let inbound = bot.owner_says("are you there?");
    bot.event(
        "agent.refused",
        json!({"group": "main", "code": "GROUP_PAUSED", "reason": "the group is paused",
               "origin": {"topic": "message.inbound", "plugin": "telegram", "payload": inbound["payload"]}}),
    );
    let explained = bot.api.wait_ok("sendMessage", 2, WAIT);
    assert_eq!(
        explained["text"],
        "This group is paused, so the agent did not run. The owner can send /resume."
    );
    assert_eq!(bot.api.calls_of("sendMessage").len(), 2);
}

#[test]
fn a_pause_made_at_the_host_is_resumed_only_there() {
    let bot = Bot::start();
    bot.harness.on_request(|_, _| {
        Err(JsonRpcError {
            code: -32000,
            message: "paused at the host".into(),
            data: Some(json!({"code": "PAUSED_AT_HOST"})),
        })
    });
    bot.api.message(OWNER, OWNER, "Ann", "/resume");
    let answer = bot.api.wait_ok("sendMessage", 1, WAIT);
    assert_eq!(
        answer["text"],
        "Group main was paused at the host, so only the host can resume it: `carapace resume main`."
    );
}

/// In a group chat, `/stop@otherbot` is for another bot: nothing is paused, and it
/// does not reach the agent; `/stop@<this bot>` (its name from `getMe`) does act.
/// Seen failing before: the `@otherbot` was cut off and the group paused.
#[test]
fn a_stop_for_another_bot_stops_nothing() {
    let bot = Bot::start();
    bot.harness.on_request(|method, params| match method {
        "group/pause" => Ok(
            json!({"group": params["group"], "newly": true, "persisted": true,
                                   "denied": [], "stopped": [], "closed": [], "failed": []}),
        ),
        _ => Err(JsonRpcError::new(METHOD_NOT_FOUND, "no")),
    });
    bot.api.wait_ok("getMe", 1, WAIT);
    bot.api
        .message(support::FAMILY_CHAT, OWNER, "Ann", "/stop@otherbot");
    let last = bot.api.message(
        support::FAMILY_CHAT,
        OWNER,
        "Ann",
        "/stop@Carapace_Test_Bot",
    );
    // Both handled: the poller asked past the second.
    bot.api.wait_calls(WAIT, |calls| {
        calls
            .iter()
            .any(|c| c.method == "getUpdates" && c.params["offset"].as_i64() > Some(last))
    });
    let answer = bot.api.wait_ok("sendMessage", 1, WAIT);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(bot.api.calls_of("sendMessage").len(), 1, "one answer");
    assert!(
        answer["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("⏸ Group family is paused")),
        "{answer}"
    );
    assert_eq!(
        bot.harness.core_requests(),
        vec![(
            "group/pause".to_owned(),
            json!({"group": "family", "by": "Ann (Telegram user 111)"})
        )],
        "one pause: the addressed one"
    );
    assert!(bot.all_published().is_empty());
}
