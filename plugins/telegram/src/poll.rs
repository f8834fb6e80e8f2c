//! Long polling of the Bot API, on the thread `started` gives the plugin.
//!
//! ```text
//!  plugin                              Bot API
//!    | getUpdates(offset=N, timeout=T)   |
//!    |---------------------------------->|  waits up to T s for news
//!    |<----------------------------------|  [update N, N+1, ...] (or [])
//!    | handle N; write offset N+1        |
//!    | handle N+1; write offset N+2      |
//!    | getUpdates(offset=N+2, ...)       |  Telegram drops what is below the offset
//! ```
//!
//! The offset is written (atomically) after each update is handled, so a restart
//! neither loses an update nor repeats one, except the one being handled at a crash
//! (see `offset`). A failed poll waits before the next: `retry_after` on a 429 (up to
//! the configured bound), else a backoff from 0.5 s doubling to a minute, reset by a
//! poll that works (a 409 means another poller uses this bot; a 401 a wrong token:
//! both logged and retried slowly). A batch that moves the offset nowhere (every
//! update below it, or without an id: a misbehaving server or proxy) is waited on
//! the same way, so the loop never spins on the same answer. The loop ends when the core goes away; at
//! `shutdown` it stops between two updates (`Shared::stop_polling`), so a clean stop
//! never leaves an update handled without its offset written.

use std::time::{Duration, Instant};

use carapace_plugin_sdk::{CoreError, CoreLink, Level};
use serde_json::Value;

use crate::api::{retry::backoff, ApiError};
use crate::commands;
use crate::history::Entry;
use crate::inbound::{self, Accepted, Inbound};
use crate::state::Shared;
use crate::taps;
use crate::update::{update_id, Update};

/// First wait after a failed poll.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait after failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Polls until the core goes away.
pub fn run(shared: &Shared, link: &CoreLink) {
    let mut offset = shared.start_offset;
    let mut failures: u32 = 0;
    while !shared.closed() {
        let problem = match shared.api.get_updates(offset, shared.config.poll_timeout) {
            Ok(updates) => {
                let (count, before) = (updates.len(), offset);
                offset = handle_batch(shared, link, updates, offset);
                if count == 0 || offset != before {
                    failures = 0;
                    continue;
                }
                // Nothing moved: asking again at once would get the same batch, forever.
                (
                    format!("telegram.poll_stuck updates={count} offset={offset}"),
                    None,
                )
            }
            Err(error) => {
                let wait = match &error {
                    ApiError::RateLimited { retry_after } => {
                        Some((*retry_after).min(shared.config.max_retry_wait))
                    }
                    _ => None,
                };
                (format!("telegram.poll_failed error={error}"), wait)
            }
        };
        failures = failures.saturating_add(1);
        let (line, wait) = problem;
        let wait = wait.unwrap_or_else(|| backoff(FIRST_BACKOFF, MAX_BACKOFF, failures));
        // Every failure while few, then every 16th: a long outage is not a flood.
        if failures <= 3 || failures.is_multiple_of(16) {
            shared.log(
                Level::Warn,
                format!(
                    "{line} failures={failures} retry_in_ms={}",
                    wait.as_millis()
                ),
            );
        }
        pause(shared, wait);
    }
}

/// Handles the updates of one batch at or past `offset`, in order, each offset
/// written once it is handled; the offset to ask from next.
fn handle_batch(shared: &Shared, link: &CoreLink, updates: Vec<Value>, mut offset: i64) -> i64 {
    for raw in updates {
        let Some(id) = update_id(&raw) else { continue };
        if id < offset {
            continue;
        }
        // A shutdown waits for this: the update is handled and its offset
        // written, or neither.
        let _handling = shared
            .handling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if shared.closed() || !handle(shared, link, raw) {
            // Not handed over (the core went away): asked for again next time.
            break;
        }
        offset = id.saturating_add(1);
        if let Err(e) = shared.offset.save(offset) {
            shared.log(Level::Error, format!("telegram.offset_not_saved error={e}"));
        }
    }
    offset
}

/// Sleeps `wait`, or less if the core goes away meanwhile.
fn pause(shared: &Shared, wait: Duration) {
    let until = Instant::now() + wait;
    while !shared.closed() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Handles one update; false if it must be asked for again (it could not be handed to
/// the core).
fn handle(shared: &Shared, link: &CoreLink, raw: Value) -> bool {
    let update: Update = match serde_json::from_value(raw) {
        Ok(update) => update,
        Err(_) => {
            shared.log(Level::Warn, "telegram.update_unreadable");
            return true;
        }
    };
    let bot = shared.bot_name.get().map(String::as_str);
    match inbound::classify(&shared.config, bot, update) {
        Inbound::Message(accepted) => return accept(shared, link, accepted),
        Inbound::Command(command) => {
            let text = commands::run(link, &command);
            shared.reply(command.chat, Some(command.message_id), text);
        }
        Inbound::Tap(tap) => taps::on_tap(shared, link, tap),
        Inbound::Refused(refusal) => {
            shared.refused(&refusal);
            if let (Some(chat), Some(message)) = (refusal.chat, refusal.tell) {
                shared.reply(chat, Some(message), "Only the owner can do that.");
            }
        }
        Inbound::Ignored(_) => {}
    }
    true
}

/// Hands a message to the core as `message.inbound` and shows "typing…"; false if
/// the core could not be told.
fn accept(shared: &Shared, link: &CoreLink, accepted: Accepted) -> bool {
    shared.remember_name(accepted.user, &accepted.name);
    match link.publish("message.inbound", &accepted.group, accepted.payload()) {
        Ok(()) => {}
        Err(CoreError::Disconnected) => return false,
        Err(error) => {
            shared.log(
                Level::Error,
                format!(
                    "telegram.publish_failed chat={} error={error}",
                    accepted.chat
                ),
            );
            return true;
        }
    }
    shared
        .typing
        .start(accepted.chat, accepted.message_id, Instant::now());
    // Shown at once rather than at the typing thread's next tick: a quick answer
    // must not arrive before the chat ever showed that the agent works.
    for chat in shared.typing.due(Instant::now()) {
        if let Err(error) = crate::outbound::typing(&shared.api, chat) {
            shared.log(
                Level::Debug,
                format!("telegram.typing_failed chat={chat} error={error}"),
            );
        }
    }
    let entry = Entry {
        message_id: accepted.message_id,
        date: accepted.date,
        direction: "in".into(),
        user: Some(accepted.user),
        name: Some(accepted.name.clone()),
        trust: Some(accepted.role.trust().into()),
        text: accepted.text,
    };
    if let Err(e) = shared.history.append(accepted.chat, entry) {
        shared.log(Level::Warn, format!("telegram.history_failed error={e}"));
    }
    true
}
