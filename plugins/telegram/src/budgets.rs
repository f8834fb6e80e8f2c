//! Budgets from the phone: a card for each `budget.exhausted` of a group this
//! plugin's chats serve, sent to that group's owners' private chats; an owner's tap
//! on "Allow N more today" (checked in `taps`) passed to the core as `budget/extend`
//! (the `budgets` capability), and the card edited to the outcome: the new cap, who
//! and when, the core's refusal, or "left as it is". A `budget.extended` made
//! elsewhere (the host's `carapace budget extend`) closes the card too.
//!
//! Must never extend anything but what a card offered: a tap's data names a card
//! this plugin keeps a record of (group, task, amounts, the day), the amount must
//! be one it offered, and the tap must be on one of that card's messages. A card
//! is taken out of the record before the core is asked, so a second tap does
//! nothing more. The record of a card is written just after Telegram took each
//! message (its id is known only then): a tap in the millisecond between finds no
//! card and is answered "no longer open", which no person's thumb can hit.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use carapace_plugin_sdk::{CoreError, CoreLink, Level, METHOD_NOT_FOUND};
use serde_json::{json, Value};

use crate::budget_card::{self, BudgetCard, Ending, Exhausted};
use crate::callback::BudgetChoice;
use crate::clock;
use crate::outbound;
use crate::state::Shared;
use crate::update::CallbackQuery;

/// How long a tap waits for the core's answer.
const EXTEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the card of a `budget.exhausted` payload to the owner chats of its group.
pub fn on_exhausted(shared: &Shared, payload: &Value) {
    let Ok(exhausted) = serde_json::from_value::<Exhausted>(payload.clone()) else {
        return shared.log(
            Level::Warn,
            "telegram.card_skipped reason=unreadable_budget",
        );
    };
    let chats = shared.config.owner_chats_of(&exhausted.group);
    if chats.is_empty() {
        return;
    }
    let now = clock::now_unix();
    let id = new_card_id();
    let offers = budget_card::offers(exhausted.cap);
    let Some(keyboard) = budget_card::keyboard(&id, &offers) else {
        return;
    };
    let mut card = BudgetCard {
        id,
        group: exhausted.group.clone(),
        task: exhausted.task.clone(),
        offers,
        day: budget_card::day_of(now),
        html: budget_card::render(&exhausted, now),
        messages: Vec::new(),
    };
    // An older card for the same cap is superseded: it would offer a stale amount.
    for old in shared
        .budget_cards
        .close_where(|c| c.is_for(&card.group, card.task.as_deref()))
    {
        edit(shared, &old, &Ending::Stale);
    }
    for chat in chats {
        match outbound::send_html(&shared.api, chat, &card.html, None, Some(&keyboard)) {
            Ok(message) => {
                card.messages.push((chat, message));
                // Kept at once, so that a quick tap finds the card.
                if let Err(e) = shared.budget_cards.add(card.clone()) {
                    shared.log(Level::Warn, format!("telegram.card_not_saved error={e}"));
                }
            }
            Err(error) => shared.log(
                Level::Warn,
                format!("telegram.card_failed chat={chat} error={error}"),
            ),
        }
    }
}

/// Closes the open card of a `budget.extended` made elsewhere (the host, another
/// plugin) and edits it to the new cap.
pub fn on_extended(shared: &Shared, payload: &Value) {
    let Some(group) = payload.get("group").and_then(Value::as_str) else {
        return;
    };
    let task = payload.get("task").and_then(Value::as_str);
    let number = |key: &str| payload.get(key).and_then(Value::as_u64).unwrap_or(0);
    let by = payload.get("by").and_then(Value::as_str).unwrap_or("?");
    let by = match payload.get("plugin").and_then(Value::as_str) {
        Some(plugin) if plugin == shared.me => by.to_owned(),
        Some(plugin) => format!("{by} via {plugin}"),
        None if by == "cli" => "the owner at the host (carapace budget extend)".to_owned(),
        None => format!("{by}, at the host"),
    };
    let ending = Ending::Extended {
        tokens: number("tokens"),
        cap: number("cap"),
        by,
    };
    for card in shared.budget_cards.close_where(|c| c.is_for(group, task)) {
        edit(shared, &card, &ending);
    }
}

/// An owner's tap on a budget card's button: checked against the card's record, then
/// `budget/extend` (or nothing, for "leave it"), and the card edited to the outcome.
pub fn choose(
    shared: &Shared,
    link: &CoreLink,
    tap: &CallbackQuery,
    choice: &BudgetChoice,
    by: String,
    answer: &dyn Fn(&str, bool),
) {
    let on = tap.message.as_ref().map(|m| (m.chat.id, m.message_id));
    // One-shot: only the first tap takes the card out.
    let taken = shared.budget_cards.close_where(|c| {
        c.id == choice.card
            && on.is_some_and(|m| c.messages.contains(&m))
            && (choice.tokens == 0 || c.offers.contains(&choice.tokens))
    });
    let Some(card) = taken.into_iter().next() else {
        return answer(
            "This card is no longer open (already decided, or replaced).",
            false,
        );
    };
    if card.day != budget_card::day_of(clock::now_unix()) {
        answer("This cap has reset since: nothing to allow.", false);
        return edit(shared, &card, &Ending::Stale);
    }
    if choice.tokens == 0 {
        answer("Left as it is.", false);
        return edit(shared, &card, &Ending::Left { by });
    }
    let mut params = json!({"group": card.group, "tokens": choice.tokens, "by": by});
    if let Some(task) = &card.task {
        params["task"] = json!(task);
    }
    match link.request_with_timeout("budget/extend", params, EXTEND_TIMEOUT) {
        Ok(done) => {
            answer("Allowed for today.", false);
            let cap = done.get("cap").and_then(Value::as_u64).unwrap_or(0);
            let ending = Ending::Extended {
                tokens: choice.tokens,
                cap,
                by,
            };
            edit(shared, &card, &ending);
        }
        Err(CoreError::Rejected(error)) => {
            let code = error.data_str("code");
            let why = refusal(&card, choice.tokens, code, error.code == METHOD_NOT_FOUND);
            shared.log(
                Level::Warn,
                format!("telegram.extend_refused code={code:?}"),
            );
            answer(&why, true);
            edit(shared, &card, &Ending::Refused { why });
        }
        Err(_) => {
            // Nothing happened: the card stays open for another try.
            if let Err(e) = shared.budget_cards.add(card) {
                shared.log(Level::Warn, format!("telegram.card_not_saved error={e}"));
            }
            answer("The core did not answer; try again.", true);
        }
    }
}

/// The core's refusal of an extension, as the person reads it.
fn refusal(card: &BudgetCard, tokens: u64, code: Option<&str>, unknown: bool) -> String {
    let at_host = match &card.task {
        Some(task) => format!(
            "carapace budget extend {} {tokens} --task {task}",
            card.group
        ),
        None => format!("carapace budget extend {} {tokens}", card.group),
    };
    match code {
        _ if unknown => format!("this core cannot raise caps from a plugin. At the host: {at_host}"),
        Some("NOT_CAPABLE") => format!(
            "the Telegram plugin may not raise caps. Grant it with capabilities = [\"budgets\"] under [plugins.telegram] in config.toml, or at the host: {at_host}"
        ),
        Some("NOT_SERVED") => format!(
            "this bot does not serve group {} (see [plugins.telegram] groups). At the host: {at_host}",
            card.group
        ),
        Some("NOT_CAPPED") => "no cap applies to it any more (the config changed).".to_owned(),
        Some("NOT_WRITTEN") => {
            format!("the core could not record it, so it is not in force; see its log. At the host: {at_host}")
        }
        other => format!(
            "the core refused ({}). At the host: {at_host}",
            other.unwrap_or("no code")
        ),
    }
}

/// Edits each message of `card` to its `ending` (no buttons).
fn edit(shared: &Shared, card: &BudgetCard, ending: &Ending) {
    let html = budget_card::with_ending(&card.html, ending, &clock::human(clock::now_unix()));
    for (chat, message) in &card.messages {
        if let Err(error) = outbound::edit_html(&shared.api, *chat, *message, &html, None) {
            shared.log(
                Level::Warn,
                format!("telegram.card_not_edited chat={chat} error={error}"),
            );
        }
    }
}

/// A new card id: 12 characters of `[A-Za-z0-9_-]`, different for every card of
/// this process and unlikely to repeat one of an earlier run (it keys a record
/// only: a tap must still match that record, by an owner).
fn new_card_id() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    hasher.write_i64(clock::now_unix());
    hasher.write_u32(std::process::id());
    let mut bits = hasher.finish();
    (0..12)
        .map(|_| {
            let c = ALPHABET[usize::try_from(bits % 64).unwrap_or(0)];
            bits /= 64;
            char::from(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_ids_are_plain_and_differ() {
        let a = new_card_id();
        let b = new_card_id();
        assert_eq!(a.len(), 12);
        assert!(BudgetChoice::encode(&a, 1).is_some());
        assert_ne!(a, b);
    }

    #[test]
    fn a_refusal_says_what_to_do() {
        let card = BudgetCard {
            id: "x".into(),
            group: "main".into(),
            task: None,
            offers: vec![50],
            day: 0,
            html: String::new(),
            messages: Vec::new(),
        };
        let why = refusal(&card, 50, Some("NOT_CAPABLE"), false);
        assert!(why.contains("capabilities = [\"budgets\"]"), "{why}");
        assert!(why.ends_with("carapace budget extend main 50"));
        assert!(refusal(&card, 50, None, true).contains("cannot raise caps"));
    }
}
