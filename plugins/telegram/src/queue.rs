//! The delivery thread's work, in two lanes: cards (approval and budget cards, their
//! edits, pause notices) and answers (agents' answers, refusals, command replies).
//! The delivery thread always takes a card first, so a card waits at most for the
//! one send in progress, never behind a flood of answers.
//!
//! Each lane is bounded; past its bound a new job is dropped, and the caller is
//! told how many that lane has dropped so far (to log). Must never drop a card
//! because answers piled up: the lanes do not share their room.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;

use crate::ids::{ChatId, MessageId};

/// Cards waiting at most; past that a card is dropped (then something is badly stuck).
pub const MAX_CARDS: usize = 1024;
/// Answers waiting at most; past that an answer is dropped and logged.
pub const MAX_ANSWERS: usize = 256;

/// Work for the delivery thread.
#[derive(Debug)]
pub enum Job {
    /// An `event` envelope from the core.
    Event(Value),
    /// A short text to send (a command's answer, a refusal's "not allowed").
    Reply {
        /// Where.
        chat: ChatId,
        /// The message it answers.
        reply_to: Option<MessageId>,
        /// The text (escaped when sent).
        text: String,
    },
}

impl Job {
    /// The event's topic (at most 64 characters), or `reply`: what a log line names.
    pub fn what(&self) -> String {
        match self {
            Job::Event(envelope) => envelope
                .get("topic")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .chars()
                .take(64)
                .collect(),
            Job::Reply { .. } => "reply".to_owned(),
        }
    }

    /// Whether it goes in the cards' lane: what the owner must decide or know now.
    pub fn is_card(&self) -> bool {
        let Job::Event(envelope) = self else {
            return false;
        };
        let topic = envelope.get("topic").and_then(Value::as_str).unwrap_or("");
        ["confirmation.", "budget.", "group."]
            .iter()
            .any(|prefix| topic.starts_with(prefix))
    }
}

/// What [`Jobs::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Dropped: its lane was full.
    Dropped {
        /// `cards` or `answers`.
        lane: &'static str,
        /// How many that lane has dropped since the start, this one included.
        total: u64,
    },
}

#[derive(Default)]
struct Lanes {
    cards: VecDeque<Job>,
    answers: VecDeque<Job>,
    dropped_cards: u64,
    dropped_answers: u64,
}

/// The two lanes, shared by the threads that queue and the one that delivers.
#[derive(Default)]
pub struct Jobs {
    lanes: Mutex<Lanes>,
    ready: Condvar,
}

impl Jobs {
    /// Empty lanes.
    pub fn new() -> Jobs {
        Jobs::default()
    }

    fn lock(&self) -> MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` in its lane, unless that lane is full.
    pub fn push(&self, job: Job) -> Pushed {
        let mut lanes = self.lock();
        let lanes = &mut *lanes;
        let (lane, dropped, bound, name) = if job.is_card() {
            (
                &mut lanes.cards,
                &mut lanes.dropped_cards,
                MAX_CARDS,
                "cards",
            )
        } else {
            (
                &mut lanes.answers,
                &mut lanes.dropped_answers,
                MAX_ANSWERS,
                "answers",
            )
        };
        if lane.len() >= bound {
            *dropped = dropped.saturating_add(1);
            return Pushed::Dropped {
                lane: name,
                total: *dropped,
            };
        }
        lane.push_back(job);
        self.ready.notify_one();
        Pushed::Queued
    }

    /// The next job, a card before any answer; `None` if none came within `wait`.
    pub fn pop(&self, wait: Duration) -> Option<Job> {
        let mut lanes = self.lock();
        if lanes.cards.is_empty() && lanes.answers.is_empty() {
            lanes = self
                .ready
                .wait_timeout(lanes, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        lanes
            .cards
            .pop_front()
            .or_else(|| lanes.answers.pop_front())
    }

    /// Jobs waiting in each lane: (cards, answers).
    pub fn waiting(&self) -> (usize, usize) {
        let lanes = self.lock();
        (lanes.cards.len(), lanes.answers.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(topic: &str) -> Job {
        Job::Event(json!({"topic": topic}))
    }

    #[test]
    fn cards_pass_answers_and_are_not_dropped_for_them() {
        let jobs = Jobs::new();
        for _ in 0..MAX_ANSWERS {
            assert_eq!(jobs.push(event("agent.completed")), Pushed::Queued);
        }
        assert_eq!(
            jobs.push(event("agent.completed")),
            Pushed::Dropped {
                lane: "answers",
                total: 1
            }
        );
        for topic in ["confirmation.requested", "budget.exhausted", "group.paused"] {
            assert_eq!(jobs.push(event(topic)), Pushed::Queued, "{topic}");
        }
        assert_eq!(jobs.waiting(), (3, MAX_ANSWERS));
        let next = |jobs: &Jobs| jobs.pop(Duration::ZERO).map(|j| j.what());
        assert_eq!(next(&jobs).as_deref(), Some("confirmation.requested"));
        assert_eq!(next(&jobs).as_deref(), Some("budget.exhausted"));
        assert_eq!(next(&jobs).as_deref(), Some("group.paused"));
        assert_eq!(next(&jobs).as_deref(), Some("agent.completed"));
        let reply = Job::Reply {
            chat: ChatId(1),
            reply_to: None,
            text: "x".into(),
        };
        assert!(!reply.is_card());
        assert_eq!(reply.what(), "reply");
    }

    #[test]
    fn an_empty_queue_waits_then_answers_none() {
        let jobs = Jobs::new();
        let started = std::time::Instant::now();
        assert!(jobs.pop(Duration::from_millis(50)).is_none());
        assert!(started.elapsed() >= Duration::from_millis(40));
    }
}
