//! Approvals from the phone: a card for each `confirmation.requested` of a group this
//! plugin's chats serve, a tap by an owner (checked in `taps`) passed to the core as `confirm/resolve`,
//! and the card edited to its outcome however the call ended (a tap here, the host's
//! CLI, a timeout, a restart).
//!
//! Must never decide for anyone but a user the config lists as `owner` (anyone else's
//! tap is answered "not allowed" and logged), never send the core a decision that is
//! not a button this plugin made (the core checks the id, the group and the hash
//! again), and never show the raw arguments.

use std::collections::BTreeMap;
use std::time::Duration;

use carapace_plugin_sdk::{CoreError, CoreLink, Level, METHOD_NOT_FOUND};
use serde_json::{json, Value};

use crate::callback::{Button, Decision};
use crate::card::{self, Outcome, Requested};
use crate::cards::OpenCard;
use crate::clock;
use crate::outbound;
use crate::state::Shared;
use crate::update::CallbackQuery;

/// How long a tap waits for the core's decision.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the card of a `confirmation.requested` payload to the owner chats of its group.
pub fn on_requested(shared: &Shared, payload: &Value) {
    let requested: Requested = match serde_json::from_value(payload.clone()) {
        Ok(requested) => requested,
        Err(_) => {
            return shared.log(
                Level::Warn,
                "telegram.card_skipped reason=unreadable_confirmation",
            )
        }
    };
    let chats = shared.config.owner_chats_of(&requested.group);
    if chats.is_empty() {
        return;
    }
    let rendered = card::render(&requested, &shared.me, &|sender| {
        shared.name_of_sender(sender)
    });
    let mut open = OpenCard {
        id: requested.id.clone(),
        group: requested.group.clone(),
        html: rendered.html.clone(),
        messages: Vec::new(),
    };
    for chat in chats {
        let sent = outbound::send_html(
            &shared.api,
            chat,
            &rendered.html,
            None,
            rendered.first_keyboard().as_ref(),
        );
        let message = match sent {
            Ok(message) => message,
            Err(error) => {
                shared.log(
                    Level::Warn,
                    format!("telegram.card_failed chat={chat} error={error}"),
                );
                continue;
            }
        };
        // Kept at once, so that a quick tap finds the card.
        open.messages.push((chat, message));
        if let Err(e) = shared.cards.add(open.clone()) {
            shared.log(Level::Warn, format!("telegram.card_not_saved error={e}"));
        }
        if let Some(whole) = &rendered.attachment {
            let attached = outbound::send_document(
                &shared.api,
                chat,
                &card::attachment_name(&requested.id),
                whole.clone().into_bytes(),
                "Every argument of the call waiting for approval (credentials redacted).",
                Some(message),
            );
            match (attached, &rendered.keyboard) {
                // The whole is in the chat: now it may be approved here.
                (Ok(_), Some(keyboard)) => {
                    if let Err(error) = outbound::set_buttons(&shared.api, chat, message, keyboard)
                    {
                        shared.log(
                            Level::Warn,
                            format!("telegram.buttons_failed chat={chat} error={error}"),
                        );
                    }
                }
                (Ok(_), None) => {}
                // Without the file the card stays deny-only: decide at the host.
                (Err(error), _) => shared.log(
                    Level::Warn,
                    format!("telegram.attachment_failed chat={chat} error={error}"),
                ),
            }
        }
    }
}

/// Edits the card of a `confirmation.resolved` payload to its outcome.
pub fn on_resolved(shared: &Shared, payload: &Value) {
    let Some(id) = payload.get("id").and_then(Value::as_str) else {
        return;
    };
    let by = decided_by(shared, payload);
    let outcome = match payload.get("outcome").and_then(Value::as_str) {
        Some("approved") => Outcome::Approved { by },
        Some("denied") => Outcome::Denied { by },
        // An older core reports a timeout here.
        Some("timed_out") => Outcome::Expired {
            why: "nobody decided in time".into(),
        },
        _ => return,
    };
    finish(shared, id, &outcome);
}

/// Edits the card of a `confirmation.expired` payload to "expired".
pub fn on_expired(shared: &Shared, payload: &Value) {
    let Some(id) = payload.get("id").and_then(Value::as_str) else {
        return;
    };
    let why = match payload.get("reason").and_then(Value::as_str) {
        Some("timed_out") => "nobody decided in time",
        Some("withdrawn") => "its session ended",
        _ => "the core gave it up",
    };
    finish(
        shared,
        id,
        &Outcome::Expired {
            why: why.to_owned(),
        },
    );
}

/// Passes an owner's tap on Approve or Deny to the core (`confirm/resolve`) and edits
/// the card to the outcome; `taps` checked who tapped, and `answer` answers the tap.
pub fn decide(
    shared: &Shared,
    link: &CoreLink,
    tap: &CallbackQuery,
    button: Button,
    by: String,
    answer: &dyn Fn(&str, bool),
) {
    let api = &shared.api;
    let params = json!({"id": button.id, "decision": button.decision.as_str(),
                        "args_hash": button.args_hash, "by": by});
    match link.request_with_timeout("confirm/resolve", params, RESOLVE_TIMEOUT) {
        Ok(_) => {
            let (toast, outcome) = match button.decision {
                Decision::Approve => ("Approved.", Outcome::Approved { by }),
                Decision::Deny => ("Denied.", Outcome::Denied { by }),
            };
            answer(toast, false);
            finish(shared, &button.id, &outcome);
        }
        Err(CoreError::Rejected(error)) => match error.data_str("code") {
            Some("NOT_PENDING") => {
                answer("Already decided, or expired.", false);
                let expired = Outcome::Expired {
                    why: "decided elsewhere, timed out, or lost with a restart".into(),
                };
                if !finish(shared, &button.id, &expired) {
                    if let Some(message) = &tap.message {
                        let _ = outbound::remove_buttons(api, message.chat.id, message.message_id);
                    }
                }
            }
            Some("HASH_MISMATCH") => answer(
                "Refused: these are not the arguments waiting for approval. Nothing was decided.",
                true,
            ),
            Some("REDACTED_ARGUMENTS") => answer(
                "Not approved: part of this call is hidden from the card. Read it whole with `carapace confirm show` and decide at the host.",
                true,
            ),
            Some("NOT_SERVED") => answer(
                "Refused: this bot may not decide for that group (see [plugins.telegram] groups).",
                true,
            ),
            Some("NOT_CAPABLE") => not_enabled(answer),
            _ if error.code == METHOD_NOT_FOUND => not_enabled(answer),
            _ => {
                shared.log(
                    Level::Warn,
                    format!("telegram.resolve_refused code={:?}", error.data_str("code")),
                );
                answer("The core refused the decision; see its log.", true);
            }
        },
        Err(_) => answer("The core did not answer; try again.", true),
    }
}

fn not_enabled(answer: &dyn Fn(&str, bool)) {
    answer(
        "Approvals from Telegram are not enabled in this core: decide with `carapace confirm` on the host.",
        true,
    );
}

/// Cards a previous run left open whose call the core no longer has (it restarted,
/// or the call ended while this plugin was down) are edited to "expired". Needs `group/status` (the
/// `kill_switch` capability); without it they stay until a tap learns it.
pub fn reconcile(shared: &Shared, link: &CoreLink) {
    let from_before = std::mem::take(
        &mut *shared
            .cards_from_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut by_group: BTreeMap<String, Vec<OpenCard>> = BTreeMap::new();
    for card in from_before {
        by_group.entry(card.group.clone()).or_default().push(card);
    }
    for (group, cards) in by_group {
        let status =
            link.request_with_timeout("group/status", json!({"group": group}), RESOLVE_TIMEOUT);
        let Ok(status) = status else {
            continue;
        };
        let pending: Vec<&str> = status
            .get("pending")
            .and_then(Value::as_array)
            .map(|all| all.iter().filter_map(|p| p.get("id")?.as_str()).collect())
            .unwrap_or_default();
        for card in cards.iter().filter(|c| !pending.contains(&c.id.as_str())) {
            let expired = Outcome::Expired {
                why: "the core restarted, or it ended while this bot was away".into(),
            };
            finish(shared, &card.id, &expired);
        }
    }
}

/// Closes the card of `id` and edits each of its messages to `outcome`; false if no
/// such card was open (someone else closed it).
fn finish(shared: &Shared, id: &str, outcome: &Outcome) -> bool {
    let Some(card) = shared.cards.close(id) else {
        return false;
    };
    let html = card::with_outcome(&card.html, outcome, &clock::human(clock::now_unix()));
    for (chat, message) in card.messages {
        if let Err(error) = outbound::edit_html(&shared.api, chat, message, &html, None) {
            shared.log(
                Level::Warn,
                format!("telegram.card_not_edited chat={chat} error={error}"),
            );
        }
    }
    true
}

/// Who decided, as `confirmation.resolved` says it.
fn decided_by(shared: &Shared, payload: &Value) -> String {
    // A core without plugin decisions names nobody: the CLI was the only way.
    let by = payload.get("by").and_then(Value::as_str).unwrap_or("cli");
    match payload.get("plugin").and_then(Value::as_str) {
        Some(plugin) if plugin == shared.me => by.to_owned(),
        Some(plugin) => format!("{by} via {plugin}"),
        None if by == "cli" => "the owner at the host (carapace confirm)".to_owned(),
        None => by.to_owned(),
    }
}
