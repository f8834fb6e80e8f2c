//! Pending high-risk calls and the person's decisions: state the core holds,
//! stage 5 adds to, and the control socket or a plugin with the `approvals`
//! capability decides. A decision is single-use and bound to one pending call
//! (deciding removes the entry); a plugin's decision is also bound to the
//! call's exact arguments by their [`args_hash`](super::args_hash). Must never
//! let one id approve a second call, nor hold a raw argument where others read
//! it: what is listed and published carries the arguments redacted.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::session::Origin;

/// What `carapace confirm list` and `confirmation.requested` show of a pending call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingConfirmation {
    /// The id to approve or deny.
    pub id: String,
    /// The tool.
    pub tool: String,
    /// The plugin that owns the tool (`None` for an intrinsic).
    #[serde(default)]
    pub plugin: Option<String>,
    /// The caller's group.
    pub group: String,
    /// The caller's session.
    pub session: String,
    /// The validated arguments, every string passed through the core's
    /// sanitizer: never a raw credential.
    pub arguments: Value,
    /// [`args_hash`](super::args_hash::args_hash) of the exact (raw) arguments.
    #[serde(default)]
    pub args_hash: String,
    /// Where the sanitizer hid something in `arguments` (and what kind): a card
    /// built from them does not show everything that runs, so a plugin may not
    /// approve such a call (only deny it); the person decides at the host.
    #[serde(default)]
    pub redactions: Vec<RedactedPart>,
    /// RFC 3339 time the request arrived.
    pub requested_at: String,
    /// What started the calling session (its sender is already plain text).
    #[serde(default)]
    pub origin: Origin,
    /// The same call as a person must be shown it: every (redacted) value escaped for display.
    pub display: DisplayedCall,
}

/// One value the sanitizer hid in a pending call's shown arguments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RedactedPart {
    /// JSON Pointer of the value in the arguments.
    pub path: String,
    /// The credential shape it matched, e.g. `private_key`.
    pub kind: String,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run the call.
    Approve,
    /// Refuse it.
    Deny,
}

/// A decision and who made it, as the waiting call, the audit log and
/// `confirmation.resolved` know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// Approve or deny.
    pub decision: Decision,
    /// Who decided: `cli`, the user a plugin names (plain, cut), or the pauser of the group.
    pub by: String,
    /// The plugin that passed the decision on, if one did.
    pub plugin: Option<String>,
}

/// Why [`Confirmations::decide_checked`] decided nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Undecided<E> {
    /// No such pending call: unknown, already decided or expired.
    NotPending,
    /// The check refused it; the call stays pending.
    Refused(E),
}

struct Waiting {
    shown: PendingConfirmation,
    /// The exact arguments that run: shown only to the person at the host.
    raw: Value,
    answer: oneshot::Sender<Resolution>,
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

    /// The pending call `id` with its exact (unredacted) arguments, for the
    /// person at the host (`carapace confirm show`); never published.
    pub fn get_raw(&self, id: &str) -> Option<(PendingConfirmation, Value)> {
        let pending = self.pending.lock().ok()?;
        pending.get(id).map(|w| (w.shown.clone(), w.raw.clone()))
    }

    /// The pending call `id`, if there is one.
    pub fn get(&self, id: &str) -> Option<PendingConfirmation> {
        let pending = self.pending.lock().ok()?;
        pending.get(id).map(|w| w.shown.clone())
    }

    /// Decides a pending call; `None` if the id is unknown, already decided or expired.
    pub fn decide(&self, id: &str, resolution: Resolution) -> Option<PendingConfirmation> {
        self.decide_checked(id, resolution, |_| Ok::<(), ()>(()))
            .ok()
    }

    /// Decides a pending call if `check` accepts it; `check` runs under the same
    /// lock that removes the entry, so nothing can decide it in between. A
    /// refused check leaves the call pending.
    pub fn decide_checked<E>(
        &self,
        id: &str,
        resolution: Resolution,
        check: impl FnOnce(&PendingConfirmation) -> Result<(), E>,
    ) -> Result<PendingConfirmation, Undecided<E>> {
        let waiting = {
            let mut pending = self.pending.lock().map_err(|_| Undecided::NotPending)?;
            let found = pending.get(id).ok_or(Undecided::NotPending)?;
            check(&found.shown).map_err(Undecided::Refused)?;
            pending.remove(id).ok_or(Undecided::NotPending)?
        };
        // The waiter may have timed out a moment ago; then the decision is void.
        waiting
            .answer
            .send(resolution)
            .map_err(|_| Undecided::NotPending)?;
        Ok(waiting.shown)
    }

    /// Denies every pending call of `group` (a pause); returns them.
    pub fn deny_group(
        &self,
        group: &str,
        by: &str,
        plugin: Option<&str>,
    ) -> Vec<PendingConfirmation> {
        let taken: Vec<Waiting> = match self.pending.lock() {
            Ok(mut pending) => {
                let ids: Vec<String> = pending
                    .iter()
                    .filter(|(_, w)| w.shown.group == group)
                    .map(|(id, _)| id.clone())
                    .collect();
                ids.iter().filter_map(|id| pending.remove(id)).collect()
            }
            Err(_) => Vec::new(),
        };
        taken
            .into_iter()
            .filter_map(|waiting| {
                let resolution = Resolution {
                    decision: Decision::Deny,
                    by: by.to_owned(),
                    plugin: plugin.map(str::to_owned),
                };
                waiting.answer.send(resolution).ok()?;
                Some(waiting.shown)
            })
            .collect()
    }

    /// Holds `shown` until it is decided; the receiver gets the decision.
    pub(crate) fn add(
        &self,
        shown: PendingConfirmation,
        raw: Value,
    ) -> oneshot::Receiver<Resolution> {
        let (answer, wait) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(shown.id.clone(), Waiting { shown, raw, answer });
        }
        wait
    }

    /// Removes a pending call that timed out or whose caller is gone.
    pub(crate) fn withdraw(&self, id: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(id);
        }
    }

    /// Withdraws every pending call of a closed session (each is refused as denied).
    pub fn forget_session(&self, session: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.retain(|_, w| w.shown.session != session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str, group: &str) -> PendingConfirmation {
        let arguments = serde_json::json!({"to": "alice"});
        PendingConfirmation {
            id: id.into(),
            tool: "send".into(),
            plugin: Some("mail".into()),
            group: group.into(),
            session: "s1".into(),
            args_hash: super::super::args_hash(&arguments),
            redactions: Vec::new(),
            display: DisplayedCall::new("send", group, "s1", &arguments),
            arguments,
            requested_at: "2026-01-01T00:00:00Z".into(),
            origin: Origin::default(),
        }
    }

    fn by(who: &str, decision: Decision) -> Resolution {
        Resolution {
            decision,
            by: who.into(),
            plugin: None,
        }
    }

    #[test]
    fn a_decision_is_single_use_and_a_refused_check_leaves_the_call_pending() {
        let confirmations = Confirmations::default();
        let mut wait = confirmations.add(pending("c1", "main"), Value::Null);
        let refused = confirmations.decide_checked("c1", by("alice", Decision::Approve), |_| {
            Err("hash mismatch")
        });
        assert_eq!(refused, Err(Undecided::Refused("hash mismatch")));
        assert!(confirmations.get("c1").is_some(), "still pending");
        assert!(wait.try_recv().is_err(), "nothing decided");
        let decided = confirmations.decide_checked("c1", by("alice", Decision::Approve), |p| {
            (p.group == "main").then_some(()).ok_or("other group")
        });
        assert_eq!(decided.map(|p| p.id), Ok("c1".to_owned()));
        assert_eq!(wait.try_recv().map(|r| r.by), Ok("alice".to_owned()));
        assert_eq!(
            confirmations.decide_checked("c1", by("bob", Decision::Deny), |_| Ok::<(), ()>(())),
            Err(Undecided::NotPending)
        );
        assert!(confirmations
            .decide("c1", by("cli", Decision::Deny))
            .is_none());
    }

    #[test]
    fn a_pause_denies_the_groups_calls_only() {
        let confirmations = Confirmations::default();
        let mut main = confirmations.add(pending("c1", "main"), Value::Null);
        let mut other = confirmations.add(pending("c2", "other"), Value::Null);
        let denied = confirmations.deny_group("main", "alice", Some("telegram"));
        assert_eq!(denied.len(), 1);
        let resolution = main.try_recv().expect("decided");
        assert_eq!(resolution.decision, Decision::Deny);
        assert_eq!(resolution.plugin.as_deref(), Some("telegram"));
        assert!(other.try_recv().is_err());
        assert_eq!(confirmations.list().len(), 1);
    }
}
