//! Stage 6: hand the call to its owner with a deadline.

use std::time::Duration;

use carapace_ipc::ErrorBody;

use crate::refusal::{Refusal, Unanswered};
use serde_json::{json, Value};

use super::confirm::Confirmed;
use super::intrinsic;
use crate::core::Core;
use crate::plugins::host::CallScope;
use crate::tools::ToolOwner;

/// Stage 6's gate: records `request.routed` and waits until that line is in
/// the log file (write(2) done). If the log cannot be written the call is
/// refused with `AUDIT_UNAVAILABLE` and never reaches its owner: no call runs
/// unaudited. Call it right before [`dispatch`].
///
/// An intrinsic tool only reads the core's own state and acts on nothing
/// outside it: it is refused as soon as the log is known to be unavailable,
/// but does not wait for its line (that wait is most of an intrinsic call's
/// cost). Every plugin call waits.
pub async fn admit(core: &Core, confirmed: &Confirmed) -> Result<(), Refusal> {
    let call = confirmed.call();
    let tool = confirmed.tool();
    let owner = tool.spec.owner.label();
    let routed = json!({"correlation": call.correlation, "tool": tool.spec.name, "owner": owner});
    let written = match tool.spec.owner {
        ToolOwner::Intrinsic => core.audit_available().map(|()| {
            core.audit(&call.session, "request.routed", routed);
        }),
        ToolOwner::Plugin(_) => {
            core.audit_written(&call.session, "request.routed", routed)
                .await
        }
    };
    written.map_err(|e| {
        tracing::warn!(error = %e, tool = %tool.spec.name, "call refused: the audit log cannot be written");
        Refusal::AuditUnavailable
    })
}

/// Stage 6: runs the call on its owner, bounded by the configured deadline.
/// [`admit`] must have recorded it first.
pub async fn dispatch(core: &Core, confirmed: Confirmed) -> Result<Value, ErrorBody> {
    let call = confirmed.call();
    let tool = confirmed.tool();
    let deadline = Duration::from_secs(core.config().core.tool_deadline_secs);
    let raw = match &tool.spec.owner {
        ToolOwner::Intrinsic => intrinsic::call(core, call, &tool.spec.name),
        ToolOwner::Plugin(plugin) => {
            let scope = CallScope {
                session: call.session.id.clone(),
                group: call.session.group.clone(),
            };
            core.plugins()
                .call(plugin, &tool.spec.name, call.envelope(), deadline, scope)
                .await
                .map_err(|refusal| {
                    if tool.spec.read_only {
                        only_read(refusal)
                    } else {
                        refusal
                    }
                })
        }
    };
    // The one place a stage-6 refusal becomes the agent's error (`refusal`):
    // a plugin can only ever produce `HANDLER_ERROR` there, or the two codes a
    // tool may choose (`RATE_LIMITED`, `VALIDATION_FAILED`).
    let result = raw.map_err(ErrorBody::from);
    core.audit(
        &call.session,
        "handler.result",
        match &result {
            Ok(_) => json!({"correlation": call.correlation, "ok": true}),
            // A plugin's message was redacted where it came in (`plugins::host`).
            Err(e) => json!({"correlation": call.correlation, "ok": false, "code": e.code,
                             "message": e.message, "field": e.field,
                             "retriable": e.retriable}),
        },
    );
    result
}

/// A tool its manifest declares `read_only` did nothing a retry would do
/// twice, so its `PLUGIN_TIMEOUT` stays retriable. Any other tool, whatever
/// its risk level (`memory_store` and `cancel_task` are low risk and write),
/// may have sent, written or deleted something: not retriable.
fn only_read(refusal: Refusal) -> Refusal {
    match refusal {
        Refusal::PluginTimedOut {
            deadline,
            unanswered: Unanswered::Silent { .. },
        } => Refusal::PluginTimedOut {
            deadline,
            unanswered: Unanswered::Silent {
                may_have_acted: false,
            },
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_silent_timeout_of_a_read_only_tool_becomes_retriable() {
        let timed_out = |unanswered| Refusal::PluginTimedOut {
            deadline: Duration::from_secs(3),
            unanswered,
        };
        let acted = timed_out(Unanswered::Silent {
            may_have_acted: true,
        });
        assert_eq!(
            only_read(acted),
            timed_out(Unanswered::Silent {
                may_have_acted: false
            })
        );
        assert_eq!(
            only_read(timed_out(Unanswered::Busy)),
            timed_out(Unanswered::Busy)
        );
        assert_eq!(only_read(Refusal::PluginBroke), Refusal::PluginBroke);
    }
}
