//! Refusal aggregation: one session's cheap refusals (malformed, oversize,
//! rate-limited, invalid requests, connection events) become at most one full
//! audit record per kind per [`SUMMARY_INTERVAL`], plus one summary line with
//! the count of the rest.
//!
//! A kind's window opens with a refusal that is recorded in full; every later
//! refusal of that kind in the window is only counted (with the time of the
//! first and last). When the window is over (the core sweeps every second) or
//! the session closes, a count above zero becomes one `refusals.summary` line:
//! `{"kind":"refusals.summary","of":...,"code":...,"count":N,"first":ts,"last":ts,"topics":[...]}`.
//! `topics` names what the counted refusals were about (the tools, event
//! topics or methods asked for), so a harmless first refusal cannot hide the
//! probing of other tools behind a bare count: the first [`MAX_TOPICS`]
//! distinct ones, each cut to [`MAX_TOPIC_CHARS`] characters, and
//! `"topics_truncated":true` when there were more.
//! The same tally serves a plugin's refusals (see `serve::plugin_services`).
//! This file must never let a session's refusals grow the log faster than
//! that, and never hold more than one window per kind (kinds are a closed set).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::format::Stamp;

/// How long one window of a kind lasts: its first refusal is recorded in full,
/// the rest of the window's refusals are counted into one summary line.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Kind of the line that closes a window with its count.
pub const SUMMARY_KIND: &str = "refusals.summary";

/// Most distinct topics one summary names.
pub const MAX_TOPICS: usize = 16;

/// Longest topic a summary names, in characters (longer ones are cut).
pub const MAX_TOPIC_CHARS: usize = 128;

/// What a refusal is grouped by: the audit kind it would have had
/// (`request.rejected`, `connection.closed`, ...) and its error code, if any.
pub type RefusalKind = (&'static str, &'static str);

struct Window {
    opened: Instant,
    count: u64,
    first: Option<Stamp>,
    last: Option<Stamp>,
    /// Distinct topics of the counted refusals, at most [`MAX_TOPICS`].
    topics: Vec<String>,
    /// More distinct topics were counted than `topics` holds.
    topics_truncated: bool,
}

impl Window {
    fn open(now: Instant) -> Window {
        Window {
            opened: now,
            count: 0,
            first: None,
            last: None,
            topics: Vec::new(),
            topics_truncated: false,
        }
    }

    fn note_topic(&mut self, topic: &str) {
        let cut: String = topic.chars().take(MAX_TOPIC_CHARS).collect();
        if self.topics.contains(&cut) {
            return;
        }
        if self.topics.len() < MAX_TOPICS {
            self.topics.push(cut);
        } else {
            self.topics_truncated = true;
        }
    }
}

/// The summary line of one closed window.
pub struct Summary {
    kind: RefusalKind,
    count: u64,
    first: Stamp,
    last: Stamp,
    topics: Vec<String>,
    topics_truncated: bool,
}

impl Summary {
    /// The fields of the `refusals.summary` event.
    pub fn fields(&self) -> Value {
        let (of, code) = self.kind;
        let stamp = |s: &Stamp| String::from_utf8_lossy(s.as_bytes()).into_owned();
        let mut fields = json!({
            "of": of,
            "count": self.count,
            "first": stamp(&self.first),
            "last": stamp(&self.last),
            "interval_secs": SUMMARY_INTERVAL.as_secs(),
        });
        if !code.is_empty() {
            fields["code"] = json!(code);
        }
        if !self.topics.is_empty() {
            fields["topics"] = json!(self.topics);
        }
        if self.topics_truncated {
            fields["topics_truncated"] = json!(true);
        }
        fields
    }
}

/// One session's refusal windows.
#[derive(Default)]
pub struct RefusalTally {
    windows: Mutex<HashMap<RefusalKind, Window>>,
}

impl std::fmt::Debug for RefusalTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalTally").finish_non_exhaustive()
    }
}

impl RefusalTally {
    fn lock(&self) -> MutexGuard<'_, HashMap<RefusalKind, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes `weight` refusals of `kind` at `now`. Returns whether this one is
    /// to be recorded in full, and the summary of the window it closes, if any
    /// (to be written first).
    pub fn admit(&self, kind: RefusalKind, weight: u64, now: Instant) -> (bool, Option<Summary>) {
        self.admit_topic(kind, weight, "", now)
    }

    /// As [`admit`](Self::admit), for a refusal about `topic` (a tool, an event
    /// topic, a method; empty for none): if it is only counted, the window's
    /// summary names it.
    pub fn admit_topic(
        &self,
        kind: RefusalKind,
        weight: u64,
        topic: &str,
        now: Instant,
    ) -> (bool, Option<Summary>) {
        let mut windows = self.lock();
        match windows.get_mut(&kind) {
            Some(window) if now.saturating_duration_since(window.opened) < SUMMARY_INTERVAL => {
                let stamp = Stamp::now();
                window.count += weight.max(1);
                window.first.get_or_insert(stamp);
                window.last = Some(stamp);
                if !topic.is_empty() {
                    window.note_topic(topic);
                }
                (false, None)
            }
            Some(window) => {
                let closed = close(kind, window);
                *window = Window::open(now);
                (true, closed)
            }
            None => {
                windows.insert(kind, Window::open(now));
                (true, None)
            }
        }
    }

    /// Summaries of the windows that are over at `now`; those windows are forgotten.
    pub fn due(&self, now: Instant) -> Vec<Summary> {
        let mut windows = self.lock();
        let mut out = Vec::new();
        windows.retain(|kind, window| {
            if now.saturating_duration_since(window.opened) < SUMMARY_INTERVAL {
                return true;
            }
            out.extend(close(*kind, window));
            false
        });
        out
    }

    /// Summaries of every window, open or not (the session is closing).
    pub fn drain(&self) -> Vec<Summary> {
        let mut windows = self.lock();
        let out = windows
            .iter_mut()
            .filter_map(|(kind, window)| close(*kind, window))
            .collect();
        windows.clear();
        out
    }

    /// The summaries to write now: every window when `closing` ([`drain`](Self::drain)),
    /// else those that are over ([`due`](Self::due)).
    pub fn summaries(&self, closing: bool, now: Instant) -> Vec<Summary> {
        if closing {
            self.drain()
        } else {
            self.due(now)
        }
    }
}

fn close(kind: RefusalKind, window: &mut Window) -> Option<Summary> {
    let (first, last) = (window.first.take()?, window.last.take()?);
    let count = std::mem::take(&mut window.count);
    (count > 0).then_some(Summary {
        kind,
        count,
        first,
        last,
        topics: std::mem::take(&mut window.topics),
        topics_truncated: std::mem::take(&mut window.topics_truncated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: RefusalKind = ("request.rejected", "RATE_LIMITED");
    const BAD: RefusalKind = ("request.rejected", "MALFORMED_MESSAGE");

    #[test]
    fn one_full_record_per_kind_per_window_and_the_rest_counted() {
        let tally = RefusalTally::default();
        let t0 = Instant::now();
        assert!(tally.admit(RATE, 1, t0).0, "the first opens the window");
        assert!(tally.admit(BAD, 1, t0).0, "another kind has its own window");
        for i in 1..=1000u64 {
            let (full, summary) = tally.admit(RATE, 1, t0 + Duration::from_millis(i));
            assert!(!full && summary.is_none());
        }
        assert!(tally.due(t0 + Duration::from_secs(1)).is_empty());
        let due = tally.due(t0 + SUMMARY_INTERVAL);
        assert_eq!(due.len(), 1, "only the window with a count is summarized");
        let fields = due[0].fields();
        assert_eq!(fields["of"], "request.rejected");
        assert_eq!(fields["code"], "RATE_LIMITED");
        assert_eq!(fields["count"], 1000);
        assert!(fields["first"].as_str().is_some_and(|s| s.ends_with('Z')));
        let later = t0 + SUMMARY_INTERVAL * 2;
        assert!(tally.admit(RATE, 1, later).0, "a new window opens in full");
    }

    #[test]
    fn a_refusal_after_the_window_closes_it_and_weights_add_up() {
        let tally = RefusalTally::default();
        let t0 = Instant::now();
        assert!(tally.admit(RATE, 1, t0).0);
        assert!(!tally.admit(RATE, 5, t0 + Duration::from_secs(1)).0);
        let (full, summary) = tally.admit(RATE, 1, t0 + SUMMARY_INTERVAL);
        assert!(full);
        assert_eq!(summary.expect("closed").fields()["count"], 5);
        assert!(!tally.admit(RATE, 1, t0 + SUMMARY_INTERVAL).0);
        assert_eq!(tally.drain().len(), 1, "closing flushes the open window");
        assert!(tally.drain().is_empty());
    }

    #[test]
    fn a_summary_names_a_bounded_set_of_the_topics_it_counted() {
        let tally = RefusalTally::default();
        let t0 = Instant::now();
        assert!(tally.admit_topic(RATE, 1, "harmless", t0).0);
        assert!(!tally.admit_topic(RATE, 1, "delete_everything", t0).0);
        let fields = tally.drain().pop().expect("summary").fields();
        assert_eq!(fields["topics"], json!(["delete_everything"]));
        assert!(fields.get("topics_truncated").is_none());

        assert!(tally.admit_topic(RATE, 1, "first", t0).0);
        let long = "x".repeat(10 * MAX_TOPIC_CHARS);
        for i in 0..100 {
            let topic = format!("{i}{long}");
            assert!(!tally.admit_topic(RATE, 1, &topic, t0).0);
            assert!(!tally.admit_topic(RATE, 1, &topic, t0).0);
        }
        let fields = tally.drain().pop().expect("summary").fields();
        let topics = fields["topics"].as_array().expect("topics");
        assert_eq!(topics.len(), MAX_TOPICS);
        assert!(topics.iter().all(|t| t
            .as_str()
            .is_some_and(|t| t.chars().count() == MAX_TOPIC_CHARS)));
        assert_eq!(fields["topics_truncated"], true);
        assert_eq!(fields["count"], 200);
    }
}
