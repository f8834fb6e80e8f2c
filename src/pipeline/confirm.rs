//! Stage 5: a high-risk call waits for the user's decision.
//!
//! A decision is single-use and bound to one pending call: deciding removes
//! the entry, so the same id can never approve a second call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::refusal::Refusal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::authorize::Authorized;
use super::envelope::Call;
use crate::core::Core;
use crate::tools::{RiskLevel, Tool};

/// A call that may be routed: low risk, or approved by the user. Only [`gate`] makes one.
#[derive(Debug)]
pub struct Confirmed {
    call: Call,
    tool: Arc<Tool>,
    _proof: ConfirmedProof,
}

#[derive(Debug)]
struct ConfirmedProof;

impl Confirmed {
    /// The call.
    pub fn call(&self) -> &Call {
        &self.call
    }
    /// Its tool.
    pub fn tool(&self) -> &Arc<Tool> {
        &self.tool
    }
}

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

    fn add(&self, shown: PendingConfirmation) -> oneshot::Receiver<Decision> {
        let (answer, wait) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(shown.id.clone(), Waiting { shown, answer });
        }
        wait
    }

    fn withdraw(&self, id: &str) {
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

/// Stage 5: passes low-risk calls; holds high-risk ones until decided or timed out.
pub async fn gate(core: &Core, authorized: Authorized) -> Result<Confirmed, Refusal> {
    let Authorized { call, tool, .. } = authorized;
    if tool.spec.risk_level != RiskLevel::High {
        return Ok(Confirmed {
            call,
            tool,
            _proof: ConfirmedProof,
        });
    }
    let shown = PendingConfirmation {
        id: crate::ids::new_uuid(),
        tool: tool.spec.name.clone(),
        group: call.session.group.clone(),
        session: call.session.id.clone(),
        arguments: call.arguments.clone(),
        requested_at: call.received_at.clone(),
        display: DisplayedCall::new(
            &tool.spec.name,
            &call.session.group,
            &call.session.id,
            &call.arguments,
        ),
    };
    let id = shown.id.clone();
    core.publish("confirmation.requested", json!(shown));
    let wait = core.confirmations.add(shown);
    core.audit(
        &call.session,
        "confirmation.requested",
        json!({"confirmation": id, "tool": tool.spec.name, "correlation": call.correlation}),
    );
    let timeout = Duration::from_secs(core.config().core.confirmation_timeout_secs);
    let decision = match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(decision)) => Some(decision),
        Ok(Err(_)) => Some(Decision::Deny),
        Err(_) => {
            core.confirmations.withdraw(&id);
            None
        }
    };
    let outcome = match decision {
        Some(Decision::Approve) => "approved",
        Some(Decision::Deny) => "denied",
        None => "timed_out",
    };
    core.audit(
        &call.session,
        "confirmation.resolved",
        json!({"confirmation": id, "tool": tool.spec.name, "correlation": call.correlation, "outcome": outcome}),
    );
    core.publish(
        "confirmation.resolved",
        json!({"id": id, "tool": tool.spec.name, "group": call.session.group,
               "session": call.session.id, "outcome": outcome}),
    );
    match decision {
        Some(Decision::Approve) => Ok(Confirmed {
            call,
            tool,
            _proof: ConfirmedProof,
        }),
        Some(Decision::Deny) => Err(Refusal::Denied {
            tool: tool.spec.name.clone(),
        }),
        None => Err(Refusal::NotApproved {
            tool: tool.spec.name.clone(),
            waited: timeout,
        }),
    }
}
