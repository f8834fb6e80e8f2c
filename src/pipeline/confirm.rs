//! Stage 5: a high-risk call waits for the user's decision.
//!
//! A decision is single-use and bound to one pending call: deciding removes
//! the entry, so the same id can never approve a second call.

use std::sync::Arc;
use std::time::Duration;

use crate::refusal::Refusal;
use serde_json::json;

use super::authorize::Authorized;
use super::envelope::Call;
use crate::core::Core;
use crate::policy::{Decision, DisplayedCall, PendingConfirmation};
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
        origin: call.session.origin.clone(),
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
