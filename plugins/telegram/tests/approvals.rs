//! Approval cards and taps, with the core played by the SDK harness (its
//! `confirm/resolve` and `group/status` answers shaped as the core's).
//!
//! Rule: every `confirmation.requested` of a group the plugin's chats serve becomes
//! a card in the owner's chat showing every argument (a long one attached whole);
//! only an owner's tap reaches the core, with the confirmation id and the args hash
//! the card was made for; the card ends showing the outcome, who decided and when,
//! or "expired", however the call ended.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carapace_plugin_sdk::JsonRpcError;
use serde_json::{json, Value};
use support::{Bot, CONTACT, FAMILY_CHAT, OWNER, WAIT};

const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const HASH: &str = "RBNvo1WzZ4oRRq0W9-hkng";

/// A `confirmation.requested` payload as the core publishes it.
fn requested(id: &str, group: &str, display_arguments: &str, trust: &str) -> Value {
    json!({
        "id": id, "tool": "send_mail", "plugin": "mail", "group": group, "session": "6f1c2a3b4d5e",
        "arguments": {"raw": "the raw arguments are never shown"},
        "args_hash": HASH, "requested_at": "2026-12-03T10:00:00Z",
        "origin": {"kind": "message", "plugin": "telegram", "sender": OWNER.to_string(), "trust": trust},
        "display": {"tool": "send_mail", "group": group, "session": "6f1c2a3b4d5e",
                    "arguments": display_arguments},
    })
}

/// A core error with `data.code`, as the core refuses a capability request.
fn refused(code: &str) -> JsonRpcError {
    JsonRpcError {
        code: -32000,
        message: format!("refused: {code}"),
        data: Some(json!({"code": code})),
    }
}

/// `user` (named `name`) taps the button with `data` under `card`.
fn tap(bot: &Bot, card: &support::bot_api::Shown, user: i64, name: &str, data: &str) {
    bot.api.tap(OWNER, card.message_id, user, name, data);
}

/// Sends the card for `id` and returns the card message.
fn card_for(bot: &Bot, id: &str) -> support::bot_api::Shown {
    bot.event(
        "confirmation.requested",
        requested(
            id,
            "main",
            r#"{"to":"bo@example.org","body":"hi <3 & _bye_ \u202e"}"#,
            "owner",
        ),
    );
    bot.api.wait_ok("sendMessage", 1, WAIT);
    let shown = bot.api.shown_in(OWNER);
    assert_eq!(shown.len(), 1, "{shown:?}");
    shown[0].clone()
}

#[test]
fn an_owners_tap_approves_exactly_the_call_on_the_card() {
    let bot = Bot::start();
    bot.harness.on_request(|method, params| match method {
        "confirm/resolve" => Ok(json!({"id": params["id"], "decision": params["decision"]})),
        _ => Err(refused("UNKNOWN")),
    });
    // The owner wrote before: the card names them.
    let inbound = bot.owner_says("mail Bo for me");
    bot.completed(&inbound, "Waiting for your approval.");
    bot.api.wait_ok("sendMessage", 1, WAIT);
    bot.event(
        "confirmation.requested",
        requested(
            ID,
            "main",
            r#"{"to":"bo@example.org","body":"hi <3 & _bye_ \u202e"}"#,
            "owner",
        ),
    );
    bot.api.wait_ok("sendMessage", 2, WAIT);
    let card = bot.api.shown_in(OWNER)[1].clone();
    assert!(card.text.contains("Approval needed"));
    assert!(
        card.text.contains("Tool: send_mail (plugin mail)"),
        "{}",
        card.text
    );
    assert!(
        card.text.contains("\"body\": \"hi <3 & _bye_ \\u202e\""),
        "every argument, escapes kept: {}",
        card.text
    );
    assert!(card.text.contains("\"to\": \"bo@example.org\""));
    assert!(
        card.text
            .contains("Asked by: Ann (Telegram user 111) in Telegram, trust owner"),
        "{}",
        card.text
    );
    assert!(!card.text.contains("raw arguments"));
    let keyboard = card.keyboard.clone().expect("buttons");
    assert_eq!(keyboard[0][0]["callback_data"], format!("a:{ID}:{HASH}"));
    assert_eq!(keyboard[0][1]["callback_data"], format!("d:{ID}:{HASH}"));

    tap(&bot, &card, OWNER, "Ann", &format!("a:{ID}:{HASH}"));
    let answered = bot.api.wait_ok("answerCallbackQuery", 1, WAIT);
    assert_eq!(answered["text"], "Approved.");
    let asked = bot.harness.core_requests();
    assert_eq!(
        asked,
        vec![(
            "confirm/resolve".to_owned(),
            json!({"id": ID, "decision": "approve", "args_hash": HASH,
                   "by": format!("Ann (Telegram user {OWNER})")})
        )]
    );
    bot.api.wait_ok("editMessageText", 1, WAIT);
    let edited = &bot.api.shown_in(OWNER)[1];
    assert!(
        edited
            .text
            .contains(&format!("✅ Approved by Ann (Telegram user {OWNER}) at ")),
        "{}",
        edited.text
    );
    assert!(edited.text.ends_with(" UTC"));
    assert!(edited.keyboard.is_none(), "the buttons are gone");
    // The core's own report of the same decision edits nothing twice.
    bot.event(
        "confirmation.resolved",
        json!({"id": ID, "outcome": "approved", "decision": "approve",
               "by": format!("Ann (Telegram user {OWNER})"), "plugin": "telegram"}),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(bot.api.calls_of("editMessageText").len(), 1);
}

#[test]
fn a_deny_a_strangers_tap_and_a_second_tap() {
    let bot = Bot::start();
    let decided = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&decided);
    bot.harness.on_request(move |method, _| match method {
        // One-shot, as the core: the first decision counts, the next finds nothing.
        "confirm/resolve" if count.fetch_add(1, Ordering::SeqCst) == 0 => Ok(json!({})),
        "confirm/resolve" => Err(refused("NOT_PENDING")),
        _ => Err(refused("UNKNOWN")),
    });
    let card = card_for(&bot, ID);
    // A contact's tap, and a stranger's: not allowed, nothing asked of the core.
    tap(&bot, &card, CONTACT, "Bo", &format!("a:{ID}:{HASH}"));
    tap(&bot, &card, 999, "Eve", &format!("a:{ID}:{HASH}"));
    let not_allowed = bot.api.wait_ok("answerCallbackQuery", 2, WAIT);
    assert_eq!(not_allowed["text"], "Not allowed: only the owner decides.");
    assert_eq!(not_allowed["show_alert"], true);
    assert!(bot.harness.core_requests().is_empty());
    // The refusal is logged just after the tap is answered: wait for both lines.
    let refusals = || {
        bot.logs()
            .iter()
            .filter(|l| l.starts_with("telegram.refused reason=not_owner_tap"))
            .count()
    };
    let deadline = std::time::Instant::now() + WAIT;
    while refusals() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(refusals(), 2);
    // The owner denies; a second tap (a stale card) learns it is no longer pending.
    tap(&bot, &card, OWNER, "Ann", &format!("d:{ID}:{HASH}"));
    assert_eq!(
        bot.api.wait_ok("answerCallbackQuery", 3, WAIT)["text"],
        "Denied."
    );
    bot.api.wait_ok("editMessageText", 1, WAIT);
    assert!(bot.api.shown_in(OWNER)[0].text.contains("❌ Denied by Ann"));
    tap(&bot, &card, OWNER, "Ann", &format!("a:{ID}:{HASH}"));
    assert_eq!(
        bot.api.wait_ok("answerCallbackQuery", 4, WAIT)["text"],
        "Already decided, or expired."
    );
    assert_eq!(decided.load(Ordering::SeqCst), 2);
    assert!(
        bot.api.shown_in(OWNER)[0].text.contains("❌ Denied by Ann"),
        "the outcome stays"
    );
}

#[test]
fn a_hash_the_core_does_not_hold_is_refused_and_the_card_stays() {
    let bot = Bot::start();
    bot.harness.on_request(|method, _| match method {
        "confirm/resolve" => Err(refused("HASH_MISMATCH")),
        _ => Err(refused("UNKNOWN")),
    });
    let card = card_for(&bot, ID);
    tap(&bot, &card, OWNER, "Ann", &format!("a:{ID}:{HASH}"));
    let answer = bot.api.wait_ok("answerCallbackQuery", 1, WAIT);
    assert!(answer["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("Refused: these are not the arguments")));
    assert_eq!(answer["show_alert"], true);
    std::thread::sleep(Duration::from_millis(300));
    assert!(bot.api.calls_of("editMessageText").is_empty());
    // Forged data never reaches the core.
    tap(&bot, &card, OWNER, "Ann", &format!("a:{ID}:{HASH}:extra"));
    bot.api
        .tap(OWNER, card.message_id, OWNER, "Ann", "a:../../x:y z");
    bot.api.wait_ok("answerCallbackQuery", 3, WAIT);
    assert_eq!(bot.harness.core_requests().len(), 1);
}

#[test]
fn long_arguments_are_attached_whole_and_an_untrusted_session_is_flagged() {
    let bot = Bot::start();
    let body = "x".repeat(5000);
    bot.event(
        "confirmation.requested",
        requested(
            ID,
            "main",
            &format!(r#"{{"body":"{body}","to":"z@example.org"}}"#),
            "contact",
        ),
    );
    let document = bot.api.wait_ok("sendDocument", 1, WAIT);
    let card = &bot.api.shown_in(OWNER)[0];
    assert!(card
        .text
        .contains("Not the owner's session (trust: contact)"));
    assert!(card
        .text
        .contains("more characters are in the attached file"));
    assert!(card.text.encode_utf16().count() <= 4096);
    assert_eq!(document["chat_id"], OWNER.to_string());
    assert_eq!(
        document["document"]["filename"],
        format!("arguments-{ID}.json")
    );
    let attached: Value =
        serde_json::from_str(document["document"]["content"].as_str().expect("content"))
            .expect("the whole arguments, as JSON");
    assert_eq!(attached, json!({"body": body, "to": "z@example.org"}));
    let reply: Value =
        serde_json::from_str(document["reply_parameters"].as_str().expect("reply")).expect("JSON");
    assert_eq!(
        reply["message_id"], card.message_id,
        "attached under its card"
    );
}

#[test]
fn expiry_and_decisions_elsewhere_edit_the_card_and_other_groups_get_none() {
    let bot = Bot::start();
    let card = card_for(&bot, ID);
    bot.event(
        "confirmation.expired",
        json!({"id": ID, "reason": "timed_out", "group": "main"}),
    );
    bot.api.wait_ok("editMessageText", 1, WAIT);
    let expired = &bot.api.shown_in(OWNER)[0];
    assert!(
        expired.text.contains("⌛ Expired (nobody decided in time)"),
        "{}",
        expired.text
    );
    assert!(expired.keyboard.is_none());
    assert_eq!(expired.message_id, card.message_id);

    let other = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    bot.event(
        "confirmation.requested",
        requested(other, "main", "{}", "owner"),
    );
    bot.api.wait_ok("sendMessage", 2, WAIT);
    bot.event(
        "confirmation.resolved",
        json!({"id": other, "outcome": "denied", "by": "cli"}),
    );
    bot.api.wait_ok("editMessageText", 2, WAIT);
    assert!(bot.api.shown_in(OWNER)[1]
        .text
        .contains("❌ Denied by the owner at the host (carapace confirm)"));
    // A group none of the plugin's chats serves gets no card; `family` has no owner
    // private chat, so its card goes to the owner's private chat, never to the
    // family group chat (its members would read the arguments).
    bot.event(
        "confirmation.requested",
        requested("a1", "elsewhere", "{}", "owner"),
    );
    bot.event(
        "confirmation.requested",
        requested("a2", "family", "{}", "owner"),
    );
    bot.api.wait_ok("sendMessage", 3, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(bot.api.shown_in(FAMILY_CHAT).is_empty());
    assert_eq!(bot.api.shown_in(OWNER).len(), 3);
    assert_eq!(bot.api.calls_of("sendMessage").len(), 3);
}

#[test]
fn a_restarted_plugin_marks_the_cards_the_core_no_longer_holds_as_expired() {
    let bot = Bot::start();
    let gone = card_for(&bot, ID);
    let other = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    bot.event(
        "confirmation.requested",
        requested(other, "main", "{}", "owner"),
    );
    bot.api.wait_ok("sendMessage", 2, WAIT);
    // The core after a restart: it still holds `other`, not `ID`.
    let bot = bot.restart_with(move |method, params| match method {
        "group/status" => Ok(
            json!({"group": params["group"], "paused": false, "sessions": [],
                                   "pending": [{"id": other}]}),
        ),
        _ => Err(refused("UNKNOWN")),
    });
    bot.api.wait_ok("editMessageText", 1, WAIT);
    let shown = bot.api.shown_in(OWNER);
    assert_eq!(shown[0].message_id, gone.message_id);
    assert!(
        shown[0].text.contains("⌛ Expired (the core restarted"),
        "{}",
        shown[0].text
    );
    assert!(shown[0].keyboard.is_none());
    assert!(
        shown[1].keyboard.is_some(),
        "the call still pending keeps its buttons"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(bot.api.calls_of("editMessageText").len(), 1);
}

#[test]
fn a_card_with_hidden_parts_offers_only_deny_and_says_where_to_decide() {
    let bot = Bot::start();
    bot.harness.on_request(|method, _| match method {
        "confirm/resolve" => Err(refused("REDACTED_ARGUMENTS")),
        _ => Err(refused("UNKNOWN")),
    });
    let mut payload = requested(
        ID,
        "main",
        r#"{"cmd":"git status # [REDACTED:private_key]"}"#,
        "owner",
    );
    payload["redactions"] = json!([{"path": "/cmd", "kind": "private_key"}]);
    bot.event("confirmation.requested", payload);
    bot.api.wait_ok("sendMessage", 1, WAIT);
    let card = bot.api.shown_in(OWNER)[0].clone();
    let keyboard = card.keyboard.clone().expect("a button");
    assert_eq!(
        keyboard[0].as_array().map(Vec::len),
        Some(1),
        "deny only: {keyboard}"
    );
    assert_eq!(keyboard[0][0]["callback_data"], format!("d:{ID}:{HASH}"));
    assert!(
        card.text
            .contains("Hidden by the sanitizer: private_key at /cmd"),
        "{}",
        card.text
    );
    assert!(card.text.contains(&format!("carapace confirm show {ID}")));
    // An approve made up from the deny button is refused by the core, and said so.
    tap(&bot, &card, OWNER, "Ann", &format!("a:{ID}:{HASH}"));
    let answer = bot.api.wait_ok("answerCallbackQuery", 1, WAIT);
    assert!(answer["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("Not approved: part of this call is hidden")));
}
