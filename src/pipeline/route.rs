//! Stage 6: hand the call to its owner with a deadline.

use std::time::Duration;

use carapace_ipc::{ErrorBody, ErrorCode};
use serde_json::{json, Value};

use super::confirm::Confirmed;
use crate::core::Core;
use crate::plugins::host::CallScope;
use crate::tools::{intrinsic, ToolOwner};

/// Stage 6's gate: records `request.routed` and waits until that line is in
/// the log file (write(2) done). If the log cannot be written the call is
/// refused with `AUDIT_UNAVAILABLE` and never reaches its owner: no call runs
/// unaudited. Call it right before [`dispatch`].
pub async fn admit(core: &Core, confirmed: &Confirmed) -> Result<(), ErrorBody> {
    let call = confirmed.call();
    let tool = confirmed.tool();
    let owner = tool.spec.owner.label();
    let routed = json!({"correlation": call.correlation, "tool": tool.spec.name, "owner": owner});
    core.audit_written(&call.session, "request.routed", routed)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, tool = %tool.spec.name, "call refused: the audit log cannot be written");
            ErrorBody::new(
                ErrorCode::AuditUnavailable,
                "the audit log cannot be written right now, so no call runs; try again later",
            )
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
        }
    };
    core.audit(
        &call.session,
        "handler.result",
        match &raw {
            Ok(_) => json!({"correlation": call.correlation, "ok": true}),
            // A plugin's message was redacted where it came in (`plugins::host`).
            Err(e) => json!({"correlation": call.correlation, "ok": false, "code": e.code, "message": e.message}),
        },
    );
    raw.map_err(|error| normalise(error, &tool.spec.owner))
}

/// A plugin may only report `HANDLER_ERROR`; the core's own codes stay as they are.
fn normalise(error: ErrorBody, owner: &ToolOwner) -> ErrorBody {
    let core_made = matches!(
        error.code,
        ErrorCode::PluginTimeout | ErrorCode::PluginUnavailable | ErrorCode::PluginError
    );
    if matches!(owner, ToolOwner::Intrinsic) || core_made {
        return error;
    }
    ErrorBody {
        code: ErrorCode::HandlerError,
        stage: None,
        field: None,
        retry_after: None,
        ..error
    }
}
