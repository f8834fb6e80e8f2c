//! Budget cards and their taps, with the core played by the SDK harness (its
//! `budget/extend` answers shaped as the core's).
//!
//! Rule: a `budget.exhausted` becomes a card in the owner's chat saying what is
//! spent, used against cap, and that it resets at midnight UTC, with "Allow N more
//! today" and "Leave it"; only an owner's tap counts, through the same gate as the
//! approval cards; a tap reaches the core only for an amount the card offered, for
//! the card's own group and task, once; the card ends showing the new cap (who,
//! when), the core's refusal with what to do, or "left as it is".

mod support;

use std::time::Duration;

use carapace_plugin_sdk::JsonRpcError;
use serde_json::{json, Value};
use support::bot_api::Shown;
use support::{Bot, CONTACT, OWNER, WAIT};

/// A `budget.exhausted` payload as the core publishes it.
fn exhausted(group: &str, task: Option<&str>, used: u64, cap: u64) -> Value {
    json!({"group": group, "task": task, "used": used, "reserved": 0, "cap": cap})
}

/// Publishes `payload` and waits for the `n`-th card in the owner's chat, and for
/// the plugin's record of it (kept just after the send: a person's tap comes later).
fn card(bot: &Bot, payload: Value, n: usize) -> Shown {
    bot.event("budget.exhausted", payload);
    bot.api.wait_ok("sendMessage", n, WAIT);
    let shown = bot.api.shown_in(OWNER)[n - 1].clone();
    let record = bot.dir.path().join("data").join("budget_cards.json");
    let deadline = std::time::Instant::now() + WAIT;
    while !std::fs::read(&record)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .is_some_and(|cards| {
            cards
                .to_string()
                .contains(&format!("[{OWNER},{}]", shown.message_id))
        })
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the card was never recorded"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    shown
}

/// The `callback_data` of each button of `card`, in order.
fn buttons(card: &Shown) -> Vec<String> {
    card.keyboard
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|row| row[0]["callback_data"].as_str().map(str::to_owned))
        .collect()
}

/// `user` taps `data` under `card`, and the tap's answer (the `n`-th).
fn tap(bot: &Bot, card: &Shown, user: i64, data: &str, n: usize) -> Value {
    bot.api.tap(OWNER, card.message_id, user, "Ann", data);
    bot.api.wait_ok("answerCallbackQuery", n, WAIT)
}

fn extends(bot: &Bot) -> Vec<Value> {
    bot.harness
        .core_requests()
        .into_iter()
        .filter(|(m, _)| m == "budget/extend")
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn an_owners_tap_allows_exactly_what_the_card_offered_once() {
    let bot = Bot::start();
    bot.harness.on_request(|method, params| match method {
        "budget/extend" => Ok(json!({"group": params["group"], "tokens": params["tokens"],
                                     "cap": 100 + params["tokens"].as_u64().unwrap_or(0),
                                     "used": 120})),
        _ => Err(JsonRpcError::new(-32601, "no")),
    });
    let shown = card(&bot, exhausted("main", None, 120, 100), 1);
    assert!(
        shown.text.contains("Daily token budget spent"),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("For: group main"));
    assert!(shown
        .text
        .contains("Used today: 120 of a cap of 100 tokens"));
    assert!(shown.text.contains("resets at midnight UTC (in "));
    let data = buttons(&shown);
    assert_eq!(data.len(), 3, "{data:?}");
    let id = data[0]
        .strip_prefix("b:")
        .and_then(|rest| rest.strip_suffix(":50"))
        .expect("b:<id>:50")
        .to_owned();
    assert_eq!(data[1], format!("b:{id}:100"));
    assert_eq!(data[2], format!("b:{id}:0"));
    assert!(data.iter().all(|d| d.len() <= 64));
    let labels: Vec<&str> = shown
        .keyboard
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|row| row[0]["text"].as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "➕ Allow 50 more today",
            "➕ Allow 100 more today",
            "Leave it"
        ]
    );

    // Crafted data: an amount not offered, a card that does not exist. Nothing asked.
    let more = tap(&bot, &shown, OWNER, &format!("b:{id}:100000000"), 1);
    assert_eq!(
        more["text"],
        "This card is no longer open (already decided, or replaced)."
    );
    tap(&bot, &shown, OWNER, "b:AAAAAAAAAAAA:50", 2);
    // A contact's tap on a real button: the approval cards' gate.
    let contact = tap(&bot, &shown, CONTACT, &data[1], 3);
    assert_eq!(contact["text"], "Not allowed: only the owner decides.");
    assert!(extends(&bot).is_empty());

    let allowed = tap(&bot, &shown, OWNER, &data[0], 4);
    assert_eq!(allowed["text"], "Allowed for today.");
    assert_eq!(
        extends(&bot),
        vec![json!({"group": "main", "tokens": 50, "by": format!("Ann (Telegram user {OWNER})")})]
    );
    bot.api.wait_ok("editMessageText", 1, WAIT);
    let edited = &bot.api.shown_in(OWNER)[0];
    assert!(
        edited.text.contains(&format!(
            "✅ Allowed 50 more today by Ann (Telegram user {OWNER}) at "
        )),
        "{}",
        edited.text
    );
    assert!(edited
        .text
        .ends_with("the cap is 150 tokens until midnight UTC."));
    assert!(edited.keyboard.is_none());
    // One-shot: the other button of the same card does nothing more.
    let again = tap(&bot, &shown, OWNER, &data[1], 5);
    assert_eq!(
        again["text"],
        "This card is no longer open (already decided, or replaced)."
    );
    // The core's own report of the same extension edits nothing twice.
    bot.event(
        "budget.extended",
        json!({"group": "main", "task": null, "tokens": 50, "cap": 150, "used": 120,
               "by": "Ann", "plugin": "telegram"}),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(extends(&bot).len(), 1);
    assert_eq!(bot.api.calls_of("editMessageText").len(), 1);
}

#[test]
fn a_refusal_shows_on_the_card_with_what_to_do() {
    let bot = Bot::start();
    bot.harness.on_request(|method, _| match method {
        "budget/extend" => Err(JsonRpcError {
            code: -32000,
            message: "refused: NOT_CAPABLE".into(),
            data: Some(json!({"code": "NOT_CAPABLE"})),
        }),
        _ => Err(JsonRpcError::new(-32601, "no")),
    });
    let shown = card(&bot, exhausted("main", Some("digest"), 130, 100), 1);
    assert!(
        shown.text.contains("For: task digest of group main"),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("the rest of its group goes on"));
    let data = buttons(&shown);
    let answer = tap(&bot, &shown, OWNER, &data[1], 1);
    assert_eq!(answer["show_alert"], true);
    assert_eq!(
        extends(&bot),
        vec![json!({"group": "main", "task": "digest", "tokens": 100,
                    "by": format!("Ann (Telegram user {OWNER})")})]
    );
    bot.api.wait_ok("editMessageText", 1, WAIT);
    let edited = &bot.api.shown_in(OWNER)[0];
    assert!(edited.text.contains("⚠️ Not raised"), "{}", edited.text);
    assert!(edited
        .text
        .contains("capabilities = [\"budgets\"] under [plugins.telegram]"));
    assert!(edited
        .text
        .contains("carapace budget extend main 100 --task digest"));
    assert!(edited.keyboard.is_none());
}

#[test]
fn leave_it_and_an_extension_at_the_host_close_their_cards() {
    let bot = Bot::start();
    let first = card(&bot, exhausted("main", Some("digest"), 130, 100), 1);
    let left = tap(&bot, &first, OWNER, &buttons(&first)[2], 1);
    assert_eq!(left["text"], "Left as it is.");
    bot.api.wait_ok("editMessageText", 1, WAIT);
    assert!(bot.api.shown_in(OWNER)[0]
        .text
        .contains("⏸ Left as it is by Ann (Telegram user 111) at "));
    assert!(extends(&bot).is_empty(), "leaving it asks the core nothing");

    card(&bot, exhausted("main", None, 2_000_500, 2_000_000), 2);
    let second = &bot.api.shown_in(OWNER)[1];
    assert!(second
        .text
        .contains("2,000,500 of a cap of 2,000,000 tokens"));
    assert!(buttons(second)[0].ends_with(":1000000"));
    // A task's card is not the group's: only the group's is closed by this.
    bot.event(
        "budget.extended",
        json!({"group": "main", "task": null, "tokens": 500_000, "cap": 2_500_000,
               "used": 2_000_500, "by": "cli", "plugin": null}),
    );
    bot.api.wait_ok("editMessageText", 2, WAIT);
    let edited = &bot.api.shown_in(OWNER)[1];
    assert!(
        edited.text.contains(
            "✅ Allowed 500,000 more today by the owner at the host (carapace budget extend) at "
        ),
        "{}",
        edited.text
    );
    assert!(edited.text.contains("the cap is 2,500,000 tokens"));
}

/// The record of offered cards outlives a restart of the plugin (a tap after it
/// still counts), and a card from an earlier UTC day extends nothing: that cap has
/// reset, so the card is edited to "expired".
#[test]
fn a_card_outlives_a_restart_and_one_from_an_earlier_day_extends_nothing() {
    let bot = Bot::start();
    let first = card(&bot, exhausted("main", None, 120, 100), 1);
    let second = card(&bot, exhausted("main", Some("digest"), 130, 100), 2);
    let record = bot.dir.path().join("data").join("budget_cards.json");
    let mut cards: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&record).expect("record")).expect("json");
    assert_eq!(cards.len(), 2, "{cards:?}");
    // The group's card is made yesterday's.
    for card in &mut cards {
        if card["task"].is_null() {
            card["day"] = json!(card["day"].as_i64().unwrap_or(0) - 1);
        }
    }
    std::fs::write(&record, serde_json::to_vec(&cards).expect("json")).expect("write");
    let bot = bot.restart_with(|method, params| match method {
        "budget/extend" => Ok(json!({"group": params["group"], "tokens": params["tokens"],
                                     "cap": 150, "used": 130})),
        _ => Err(JsonRpcError::new(-32601, "no")),
    });
    let stale = tap(&bot, &first, OWNER, &buttons(&first)[0], 1);
    assert_eq!(stale["text"], "This cap has reset since: nothing to allow.");
    bot.api.wait_ok("editMessageText", 1, WAIT);
    assert!(bot.api.shown_in(OWNER)[0].text.contains("⌛ Expired at "));
    assert!(extends(&bot).is_empty());
    let allowed = tap(&bot, &second, OWNER, &buttons(&second)[0], 2);
    assert_eq!(allowed["text"], "Allowed for today.");
    assert_eq!(
        extends(&bot),
        vec![json!({"group": "main", "task": "digest", "tokens": 50,
                    "by": format!("Ann (Telegram user {OWNER})")})]
    );
}
