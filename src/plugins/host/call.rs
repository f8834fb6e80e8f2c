//! Tool calls into a plugin: a fair share of in-flight slots per plugin and
//! per session, the in-flight registry that scopes a plugin's `services/*`
//! requests, and the call's deadline (waiting for a slot counts against it).
//!
//! Must never give the agent a plugin's stderr, nor pass a tool's error
//! message on unredacted.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::PluginHost;
use crate::plugins::process::{RpcFailure, RpcOutcome};
use crate::refusal::Refusal;

/// Calls one plugin may have in flight at once; more wait for a slot.
pub(super) const MAX_IN_FLIGHT: usize = 32;
/// Of those, calls one session may have in flight at once: a quarter, so that
/// one session never holds a plugin alone.
pub(super) const MAX_IN_FLIGHT_PER_SESSION: usize = 8;
/// Longest message of a tool's error, in characters.
const MAX_TOOL_ERROR_CHARS: usize = 1000;

/// Whose call a plugin is handling: the scope of its `services/*` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallScope {
    /// The calling session.
    pub session: String,
    /// That session's group.
    pub group: String,
}

impl PluginHost {
    /// Calls `tool` on `plugin` with the request envelope, on behalf of `scope`.
    pub async fn call(
        &self,
        plugin: &str,
        tool: &str,
        envelope: Value,
        deadline: Duration,
        scope: CallScope,
    ) -> Result<Value, Refusal> {
        let started = Instant::now();
        let slot = self.slots.get(plugin).ok_or_else(|| unavailable(plugin))?;
        let process = slot.process().ok_or_else(|| unavailable(plugin))?;
        // Waiting for a slot counts against the call's own deadline.
        let Ok(Some(_pass)) =
            tokio::time::timeout(deadline, slot.slots.enter(&scope.session)).await
        else {
            return Err(timeout(deadline));
        };
        let id = process.reserve_id();
        if let Ok(mut in_flight) = slot.in_flight.lock() {
            in_flight.insert(id, scope);
        }
        let left = deadline.saturating_sub(started.elapsed());
        let params = json!({"tool": tool, "envelope": envelope});
        let outcome = process.request_as(id, "tool/call", params, left).await;
        if let Ok(mut in_flight) = slot.in_flight.lock() {
            in_flight.remove(&id);
        }
        match outcome {
            Ok(RpcOutcome::Result(value)) => Ok(value),
            Ok(RpcOutcome::Error(error)) => Err(tool_error(&error)),
            Err(RpcFailure::Timeout) => Err(timeout(deadline)),
            Err(RpcFailure::Broken) => Err(Refusal::PluginBroke),
        }
    }

    /// The scope of call `call_id` that `plugin` is handling now, if any.
    pub fn scope_of(&self, plugin: &str, call_id: u64) -> Option<CallScope> {
        let slot = self.slots.get(plugin)?;
        let in_flight = slot.in_flight.lock().ok()?;
        in_flight.get(&call_id).cloned()
    }
}

fn unavailable(plugin: &str) -> Refusal {
    Refusal::PluginNotRunning {
        plugin: plugin.into(),
    }
}

fn timeout(deadline: Duration) -> Refusal {
    Refusal::PluginTimedOut { deadline }
}

/// A JSON-RPC error from a handler becomes the tool's own error, its message
/// redacted (the container, the audit log and the diagnostics all get this one).
fn tool_error(error: &Value) -> Refusal {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the tool reported an error");
    let retriable = error
        .get("data")
        .and_then(|d| d.get("retriable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Refusal::ToolFailed {
        message: crate::sanitize::shared().redact_cut(message, MAX_TOOL_ERROR_CHARS),
        retriable,
    }
}
