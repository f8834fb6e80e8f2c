//! The delivery thread: events from the core and queued replies, sent in order
//! within their lane (cards before answers: `queue`), so
//! that a slow send (a `retry_after`, a network backoff) never holds the SDK's call
//! threads. And the typing thread, which renews "typing…".
//!
//! An agent's answer is sent only for an event this plugin published
//! (`origin.plugin` is this plugin, `origin.topic` is `message.inbound`) and only to
//! its chat if that chat still maps to the session's group: must never send an
//! answer to a chat the config does not tie to the group it came from.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carapace_plugin_sdk::Level;
use serde_json::Value;

use crate::history::Entry;
use crate::ids::{ChatId, MessageId};
use crate::state::{Job, Shared};
use crate::{approvals, budgets, clock, outbound};

/// How often the typing thread looks at what is due.
const TYPING_TICK: Duration = Duration::from_millis(500);
/// How often an idle delivery thread checks that the core is still there.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Runs queued jobs, cards first, until the core goes away.
pub fn run(shared: Arc<Shared>) {
    loop {
        match shared.jobs.pop(IDLE_CHECK) {
            Some(Job::Event(envelope)) => on_event(&shared, &envelope),
            Some(Job::Reply {
                chat,
                reply_to,
                text,
            }) => send(&shared, chat, reply_to, &text),
            None if shared.closed() => return,
            None => {}
        }
    }
}

/// Renews "typing…" until the core goes away.
pub fn typing(shared: Arc<Shared>) {
    while !shared.closed() {
        for chat in shared.typing.due(Instant::now()) {
            if let Err(error) = outbound::typing(&shared.api, chat) {
                shared.log(
                    Level::Debug,
                    format!("telegram.typing_failed chat={chat} error={error}"),
                );
            }
        }
        std::thread::sleep(TYPING_TICK);
    }
}

fn on_event(shared: &Shared, envelope: &Value) {
    let topic = envelope.get("topic").and_then(Value::as_str).unwrap_or("");
    let payload = envelope.get("payload").unwrap_or(&Value::Null);
    match topic {
        "agent.completed" => {
            if let Some((chat, message)) = asked_here(shared, payload) {
                shared.typing.stop(chat, message.unwrap_or(MessageId(0)));
                let answer = payload.get("answer").and_then(Value::as_str).unwrap_or("");
                let answer = if answer.trim().is_empty() {
                    "(The agent finished without an answer.)"
                } else {
                    answer
                };
                send(shared, chat, message, answer);
            }
        }
        "agent.error" => {
            if let Some((chat, message)) = asked_here(shared, payload) {
                shared.typing.stop(chat, message.unwrap_or(MessageId(0)));
                send(
                    shared,
                    chat,
                    message,
                    "Sorry: the agent stopped before it could answer. The details are in the host's log.",
                );
            }
        }
        "agent.refused" => {
            if let Some((chat, message)) = asked_here(shared, payload) {
                shared.typing.stop(chat, message.unwrap_or(MessageId(0)));
                let text = match payload.get("code").and_then(Value::as_str) {
                    Some("GROUP_PAUSED") => {
                        "This group is paused, so the agent did not run. The owner can send /resume."
                    }
                    _ => "The agent did not run for this message.",
                };
                send(shared, chat, message, text);
            }
        }
        "confirmation.requested" => approvals::on_requested(shared, payload),
        "confirmation.resolved" => approvals::on_resolved(shared, payload),
        "confirmation.expired" => approvals::on_expired(shared, payload),
        "budget.exhausted" => budgets::on_exhausted(shared, payload),
        "budget.extended" => budgets::on_extended(shared, payload),
        "group.paused" | "group.resumed" => announce(shared, topic, payload),
        _ => {}
    }
}

/// The chat and message an agent event answers, if this plugin asked and the chat
/// still maps to the event's group.
fn asked_here(shared: &Shared, payload: &Value) -> Option<(ChatId, Option<MessageId>)> {
    let origin = payload.get("origin")?;
    if origin.get("plugin").and_then(Value::as_str) != Some(shared.me.as_str())
        || origin.get("topic").and_then(Value::as_str) != Some("message.inbound")
    {
        return None;
    }
    let asked = origin.get("payload")?;
    let chat = ChatId(asked.get("chat")?.as_i64()?);
    let message = asked
        .get("message_id")
        .and_then(Value::as_i64)
        .map(MessageId);
    let group = payload.get("group").and_then(Value::as_str)?;
    if shared.config.group_of(chat) != Some(group) {
        shared.log(
            Level::Warn,
            format!("telegram.answer_dropped chat={chat} reason=chat_not_of_group"),
        );
        return None;
    }
    Some((chat, message))
}

/// Tells the owner chats of a group that someone else paused or resumed it.
fn announce(shared: &Shared, topic: &str, payload: &Value) {
    if payload.get("plugin").and_then(Value::as_str) == Some(shared.me.as_str()) {
        return; // The command's own answer said it.
    }
    let Some(group) = payload.get("group").and_then(Value::as_str) else {
        return;
    };
    let by = match payload.get("by").and_then(Value::as_str) {
        Some("cli") | None => "the owner at the host".to_owned(),
        Some(by) => by.to_owned(),
    };
    let text = if topic == "group.paused" {
        format!("⏸ Group {group} was paused by {by}. New messages are refused until it is resumed.")
    } else {
        format!("▶️ Group {group} was resumed by {by}.")
    };
    for chat in shared.config.owner_chats_of(group) {
        send(shared, chat, None, &text);
    }
}

/// Sends `text` and keeps what was sent in the chat's history.
fn send(shared: &Shared, chat: ChatId, reply_to: Option<MessageId>, text: &str) {
    match outbound::send_text(&shared.api, chat, text, reply_to) {
        Ok(sent) => record_sent(shared, chat, &sent, text),
        Err(error) => shared.log(
            Level::Warn,
            format!("telegram.send_failed chat={chat} error={error}"),
        ),
    }
}

/// Adds the bot's own message to `chat`'s history.
pub fn record_sent(shared: &Shared, chat: ChatId, sent: &[MessageId], text: &str) {
    let Some(first) = sent.first() else {
        return;
    };
    let entry = Entry {
        message_id: *first,
        date: clock::now_unix(),
        direction: "out".into(),
        user: None,
        name: None,
        trust: None,
        text: text.to_owned(),
    };
    if let Err(e) = shared.history.append(chat, entry) {
        shared.log(Level::Warn, format!("telegram.history_failed error={e}"));
    }
}
