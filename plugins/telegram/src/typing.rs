//! "typing…" in a chat while the agent works on a message from it.
//!
//! Telegram shows a chat action for about five seconds, so it is renewed every
//! [`RENEW_EVERY`] from when the message is handed to the core until its answer,
//! error or refusal arrives, and never longer than `typing_max` (a session the core
//! never reports on must not type forever). One action per chat per renewal, however
//! many of its messages are in flight. The bookkeeping here is pure; the thread that
//! sends the actions is in `handler`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ids::{ChatId, MessageId};

/// How often the action is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(4);

struct Working {
    since: Instant,
}

/// The messages being worked on, and when each chat was last shown typing.
pub struct Typing {
    max: Duration,
    working: Mutex<State>,
}

#[derive(Default)]
struct State {
    messages: HashMap<(ChatId, MessageId), Working>,
    shown: HashMap<ChatId, Instant>,
}

impl Typing {
    /// Typing for at most `max` per message.
    pub fn new(max: Duration) -> Typing {
        Typing {
            max,
            working: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.working.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent starts on `message` of `chat` at `now`.
    pub fn start(&self, chat: ChatId, message: MessageId, now: Instant) {
        if self.max.is_zero() {
            return;
        }
        let mut state = self.state();
        state
            .messages
            .insert((chat, message), Working { since: now });
        // Shown at the next tick, whatever was shown before.
        state.shown.remove(&chat);
    }

    /// The agent is done with `message` of `chat`.
    pub fn stop(&self, chat: ChatId, message: MessageId) {
        let mut state = self.state();
        state.messages.remove(&(chat, message));
        if !state.messages.keys().any(|(c, _)| *c == chat) {
            state.shown.remove(&chat);
        }
    }

    /// The chats to show typing in at `now` (each marked shown); messages past the
    /// bound are dropped first.
    pub fn due(&self, now: Instant) -> Vec<ChatId> {
        let mut state = self.state();
        let max = self.max;
        state
            .messages
            .retain(|_, working| now.saturating_duration_since(working.since) < max);
        let mut chats: Vec<ChatId> = state.messages.keys().map(|(chat, _)| *chat).collect();
        chats.sort();
        chats.dedup();
        chats.retain(|chat| {
            state
                .shown
                .get(chat)
                .is_none_or(|at| now.saturating_duration_since(*at) >= RENEW_EVERY)
        });
        for chat in &chats {
            state.shown.insert(*chat, now);
        }
        chats
    }

    /// Whether anything is being worked on.
    pub fn is_idle(&self) -> bool {
        self.state().messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_renewed_until_the_answer_and_bounded() {
        let typing = Typing::new(Duration::from_secs(60));
        let t0 = Instant::now();
        typing.start(ChatId(1), MessageId(1), t0);
        typing.start(ChatId(1), MessageId(2), t0);
        typing.start(ChatId(2), MessageId(1), t0);
        assert_eq!(typing.due(t0), vec![ChatId(1), ChatId(2)]);
        assert!(
            typing.due(t0 + Duration::from_secs(1)).is_empty(),
            "not yet"
        );
        assert_eq!(typing.due(t0 + RENEW_EVERY).len(), 2, "renewed");
        typing.stop(ChatId(1), MessageId(1));
        assert_eq!(typing.due(t0 + 2 * RENEW_EVERY), vec![ChatId(1), ChatId(2)]);
        typing.stop(ChatId(1), MessageId(2));
        assert_eq!(typing.due(t0 + 3 * RENEW_EVERY), vec![ChatId(2)]);
        assert!(
            typing.due(t0 + Duration::from_secs(61)).is_empty(),
            "bounded"
        );
        assert!(typing.is_idle());
        let never = Typing::new(Duration::ZERO);
        never.start(ChatId(1), MessageId(1), t0);
        assert!(never.due(t0).is_empty());
    }
}
