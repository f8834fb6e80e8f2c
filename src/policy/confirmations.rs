//! Pending high-risk calls and the person's decisions: state the core holds,
//! stage 5 adds to and the control socket decides. A decision is single-use
//! and bound to one pending call (deciding removes the entry); must never let
//! one id approve a second call, nor show a raw value where its display form
//! belongs.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::session::Origin;

/// What `carapace confirm list` shows of a pending call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingConfirmation {
    /// The id to approve or deny.
    pub id: String,
    /// The tool.
    pub tool: String,
    /// The caller's group.
    pub group: String,
    /// The caller's session.
    pub session: String,
    /// The validated arguments.
    pub arguments: Value,
    /// RFC 3339 time the request arrived.
    pub requested_at: String,
    /// What started the calling session (its sender is already plain text).
    #[serde(default)]
    pub origin: Origin,
    /// The same call as a person must be shown it: every value escaped for display.
    pub display: DisplayedCall,
}

/// A pending call's values escaped for display ([`crate::display`]): what a
/// CLI, an event subscriber or a chat card shows, never the raw values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisplayedCall {
    /// The tool.
    pub tool: String,
    /// The caller's group.
    pub group: String,
    /// The caller's session.
    pub session: String,
    /// The arguments as one line of JSON that decodes to exactly what runs.
    pub arguments: String,
}

impl DisplayedCall {
    /// The display form of a call to `tool` from `group`/`session` with `arguments`.
    pub fn new(tool: &str, group: &str, session: &str, arguments: &Value) -> DisplayedCall {
        use crate::display::{escape_json, escape_str};
        DisplayedCall {
            tool: escape_str(tool),
            group: escape_str(group),
            session: escape_str(session),
            arguments: escape_json(arguments),
        }
    }
}

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run the call.
    Approve,
    /// Refuse it.
    Deny,
}

struct Waiting {
    shown: PendingConfirmation,
    answer: oneshot::Sender<Decision>,
}

/// Pending high-risk calls by confirmation id.
#[derive(Default)]
pub struct Confirmations {
    pending: Mutex<HashMap<String, Waiting>>,
}

impl Confirmations {
    /// Every pending call, oldest first.
    pub fn list(&self) -> Vec<PendingConfirmation> {
        let mut all: Vec<_> = self
            .pending
            .lock()
            .map(|p| p.values().map(|w| w.shown.clone()).collect())
            .unwrap_or_default();
        all.sort_by(|a: &PendingConfirmation, b| a.requested_at.cmp(&b.requested_at));
        all
    }

    /// Decides a pending call; `None` if the id is unknown, already decided or expired.
    pub fn decide(&self, id: &str, decision: Decision) -> Option<PendingConfirmation> {
        let waiting = self.pending.lock().ok()?.remove(id)?;
        // The waiter may have timed out a moment ago; then the decision is void.
        waiting.answer.send(decision).ok()?;
        Some(waiting.shown)
    }

    /// Holds `shown` until it is decided; the receiver gets the decision.
    pub(crate) fn add(&self, shown: PendingConfirmation) -> oneshot::Receiver<Decision> {
        let (answer, wait) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(shown.id.clone(), Waiting { shown, answer });
        }
        wait
    }

    /// Removes a pending call that timed out or whose caller is gone.
    pub(crate) fn withdraw(&self, id: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(id);
        }
    }

    /// Withdraws every pending call of a closed session (each is denied).
    pub fn forget_session(&self, session: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.retain(|_, w| w.shown.session != session);
        }
    }
}
