//! Stage 5: a high-risk call waits for the user's decision.
//!
//! A decision is single-use and bound to one pending call: deciding removes
//! the entry, so the same id can never approve a second call. The call is
//! published (`confirmation.requested`) with its arguments redacted and the
//! hash of the exact ones; its end as `confirmation.resolved` (who decided)
//! or `confirmation.expired` (timed out, or withdrawn with its session). An
//! approval of a group that was paused meanwhile does not run (`GROUP_PAUSED`).

use std::sync::Arc;
use std::time::Duration;

use crate::refusal::Refusal;
use serde_json::json;

use super::authorize::Authorized;
use super::envelope::Call;
use crate::core::Core;
use crate::policy::{Decision, DisplayedCall, PendingConfirmation, RedactedPart, Resolution};
use crate::session::origin::{chat_argument, OriginKind};
use crate::tools::{RiskLevel, Tool, ToolOwner};

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

/// Whether `call` is its channel's reply where the session's message came
/// from: the tool declares a `reply_argument`, its plugin is the one that
/// published the message, and the argument names the origin's chat exactly.
/// The origin is the core's record, never the call's words.
fn is_reply_to_origin(call: &Call, tool: &Tool) -> bool {
    let (Some(argument), ToolOwner::Plugin(owner)) = (&tool.spec.reply_argument, &tool.spec.owner)
    else {
        return false;
    };
    let origin = &call.session.origin;
    origin.kind == OriginKind::Message
        && origin.plugin.as_deref() == Some(owner.as_str())
        && origin.chat.is_some()
        && call
            .arguments
            .get(argument)
            .and_then(chat_argument)
            .as_deref()
            == origin.chat.as_deref()
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
    if is_reply_to_origin(&call, &tool) {
        core.audit(
            &call.session,
            "confirmation.not_needed",
            json!({"tool": tool.spec.name, "correlation": call.correlation,
                   "reason": "a reply to the chat the session's message came from"}),
        );
        return Ok(Confirmed {
            call,
            tool,
            _proof: ConfirmedProof,
        });
    }
    let shown = pending(core, &call, &tool);
    let id = shown.id.clone();
    // Held before it is published: a quick decider must find it pending.
    let published = json!(shown);
    let wait = core.confirmations.add(shown, call.arguments.clone());
    core.publish("confirmation.requested", published);
    core.audit(
        &call.session,
        "confirmation.requested",
        json!({"confirmation": id, "tool": tool.spec.name, "correlation": call.correlation}),
    );
    let timeout = Duration::from_secs(core.config().core.confirmation_timeout_secs);
    let ended = match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(resolution)) => Ended::Decided(resolution),
        // Withdrawn: the session closed (or the core is stopping).
        Ok(Err(_)) => Ended::Expired("withdrawn"),
        Err(_) => {
            core.confirmations.withdraw(&id);
            Ended::Expired("timed_out")
        }
    };
    let base = json!({"id": id, "tool": tool.spec.name, "group": call.session.group,
                      "session": call.session.id});
    match &ended {
        Ended::Decided(resolution) => {
            let outcome = match resolution.decision {
                Decision::Approve => "approved",
                Decision::Deny => "denied",
            };
            core.audit(
                &call.session,
                "confirmation.resolved",
                json!({"confirmation": id, "tool": tool.spec.name, "correlation": call.correlation,
                       "outcome": outcome, "by": resolution.by, "plugin": resolution.plugin}),
            );
            let mut published = base;
            published["outcome"] = json!(outcome);
            published["decision"] = json!(resolution.decision);
            published["by"] = json!(resolution.by);
            published["plugin"] = json!(resolution.plugin);
            core.publish("confirmation.resolved", published);
        }
        Ended::Expired(reason) => {
            core.audit(
                &call.session,
                "confirmation.resolved",
                json!({"confirmation": id, "tool": tool.spec.name, "correlation": call.correlation,
                       "outcome": reason}),
            );
            let mut published = base;
            published["reason"] = json!(reason);
            core.publish("confirmation.expired", published);
        }
    }
    match ended {
        // An approval that raced a pause does not run: the group is stopped.
        Ended::Decided(r) if r.decision == Decision::Approve => {
            if core.paused.is_paused(&call.session.group) {
                return Err(Refusal::GroupPaused {
                    group: call.session.group.clone(),
                });
            }
            Ok(Confirmed {
                call,
                tool,
                _proof: ConfirmedProof,
            })
        }
        Ended::Decided(_) | Ended::Expired("withdrawn") => Err(Refusal::Denied {
            tool: tool.spec.name.clone(),
        }),
        Ended::Expired(_) => Err(Refusal::NotApproved {
            tool: tool.spec.name.clone(),
            waited: timeout,
        }),
    }
}

/// How the wait for a decision ended.
enum Ended {
    /// Someone decided.
    Decided(Resolution),
    /// Nobody did: `timed_out`, or `withdrawn` (the session closed).
    Expired(&'static str),
}

/// What is listed and published of a pending call: the arguments redacted by
/// the core's sanitizer (and their display form made from that), the hash of
/// the exact arguments, the owning plugin and the session's origin.
fn pending(core: &Core, call: &Call, tool: &Tool) -> PendingConfirmation {
    let mut redacted = call.arguments.clone();
    let redactions = core.sanitizer.sanitize(&mut redacted);
    if !redactions.is_empty() {
        tracing::info!(tool = %tool.spec.name, redacted = redactions.len(),
            "redacted credential-shaped arguments of a pending call before showing it");
    }
    PendingConfirmation {
        id: crate::ids::new_uuid(),
        tool: tool.spec.name.clone(),
        plugin: match &tool.spec.owner {
            ToolOwner::Plugin(plugin) => Some(plugin.clone()),
            ToolOwner::Intrinsic => None,
        },
        group: call.session.group.clone(),
        session: call.session.id.clone(),
        args_hash: crate::policy::args_hash(&call.arguments),
        redactions: redactions
            .iter()
            .map(|r| RedactedPart {
                path: r.path.clone(),
                kind: r.kind.to_owned(),
            })
            .collect(),
        display: DisplayedCall::new(
            &tool.spec.name,
            &call.session.group,
            &call.session.id,
            &redacted,
        ),
        arguments: redacted,
        requested_at: call.received_at.clone(),
        origin: call.session.origin.clone(),
    }
}
