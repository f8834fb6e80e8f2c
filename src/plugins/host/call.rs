//! Tool calls into a plugin: a fair share of in-flight slots per plugin and
//! per session, the in-flight registry that scopes a plugin's `services/*`
//! requests, and the call's deadline (waiting for a slot counts against it;
//! what is left of it goes to the plugin as `deadline_ms`).
//!
//! Must never give the agent a plugin's stderr, pass a tool's error message
//! on unredacted, or let a tool claim a code of the core's: of what a handler
//! names, only `RATE_LIMITED` and `VALIDATION_FAILED` pass, anything else is
//! the tool's own failure (`HANDLER_ERROR`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::PluginHost;
use crate::plugins::process::{RpcFailure, RpcOutcome};
use crate::refusal::{Refusal, Unanswered};

/// Calls one plugin may have in flight at once; more wait for a slot.
pub(super) const MAX_IN_FLIGHT: usize = 32;
/// Of those, calls one session may have in flight at once: a quarter, so that
/// one session never holds a plugin alone.
pub(super) const MAX_IN_FLIGHT_PER_SESSION: usize = 8;
/// Longest message of a tool's error, in characters.
const MAX_TOOL_ERROR_CHARS: usize = 1000;
/// Longest field a tool's `VALIDATION_FAILED` may name, in characters.
pub const MAX_TOOL_FIELD_CHARS: usize = 128;

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
        let _pass = match tokio::time::timeout(deadline, slot.slots.enter(&scope.session)).await {
            Ok(Some(pass)) => pass,
            // The share is torn down: the plugin is being retired.
            Ok(None) => return Err(unavailable(plugin)),
            // The plugin never saw the call.
            Err(_) => return Err(timeout(deadline, Unanswered::Busy)),
        };
        let left = deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            // The slot came as the deadline passed: the plugin is not handed a call it cannot answer.
            return Err(timeout(deadline, Unanswered::Busy));
        }
        let id = process.reserve_id();
        if let Ok(mut in_flight) = slot.in_flight.lock() {
            in_flight.insert(id, scope);
        }
        // What is left of the deadline, so that a tool of several steps can fit inside it.
        let deadline_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        let params = json!({"tool": tool, "envelope": envelope, "deadline_ms": deadline_ms});
        let outcome = process.request_as(id, "tool/call", params, left).await;
        if let Ok(mut in_flight) = slot.in_flight.lock() {
            in_flight.remove(&id);
        }
        match outcome {
            Ok(RpcOutcome::Result(value)) => Ok(value),
            Ok(RpcOutcome::Error(error)) => Err(tool_error(&error)),
            // Not a byte of the request reached the handler: it never saw the call.
            Err(RpcFailure::NotSent) => Err(timeout(deadline, Unanswered::Busy)),
            // The request was written: the tool may be acting still. What it
            // does is not known here; routing clears this for a read-only tool.
            Err(RpcFailure::Timeout) => Err(timeout(
                deadline,
                Unanswered::Silent {
                    may_have_acted: true,
                },
            )),
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

fn timeout(deadline: Duration, unanswered: Unanswered) -> Refusal {
    Refusal::PluginTimedOut {
        deadline,
        unanswered,
    }
}

/// A JSON-RPC error from a handler becomes the tool's own error, its message
/// (and field) redacted (the container, the audit log and the diagnostics all
/// get this one). `data.code` is read exactly: `RATE_LIMITED` and
/// `VALIDATION_FAILED` (with `data.field`, plain and cut) are the tool's to
/// choose; any other claim, a core code or garbage, is `HANDLER_ERROR` with the
/// handler's `data.retriable`.
fn tool_error(error: &Value) -> Refusal {
    let sanitizer = crate::sanitize::shared();
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the tool reported an error");
    let message = sanitizer.redact_cut(message, MAX_TOOL_ERROR_CHARS);
    let data = |key: &str| error.get("data").and_then(|d| d.get(key));
    match data("code").and_then(Value::as_str) {
        Some("RATE_LIMITED") => Refusal::ToolRateLimited { message },
        Some("VALIDATION_FAILED") => Refusal::ToolInvalid {
            message,
            field: data("field")
                .and_then(Value::as_str)
                .map(|field| {
                    let plain = crate::display::strip(field, usize::MAX);
                    sanitizer.redact_cut(&plain, MAX_TOOL_FIELD_CHARS)
                })
                .filter(|field| !field.is_empty()),
        },
        _ => Refusal::ToolFailed {
            message,
            retriable: data("retriable").and_then(Value::as_bool).unwrap_or(false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(data: Value) -> Refusal {
        tool_error(&json!({"code": -32000, "message": "no", "data": data}))
    }

    #[test]
    fn a_tool_chooses_only_rate_limited_or_validation_failed() {
        assert_eq!(
            claim(json!({"code": "RATE_LIMITED", "retriable": false, "field": "x"})),
            Refusal::ToolRateLimited {
                message: "no".into()
            }
        );
        assert_eq!(
            claim(json!({"code": "VALIDATION_FAILED", "retriable": true, "field": "a.b"})),
            Refusal::ToolInvalid {
                message: "no".into(),
                field: Some("a.b".into())
            }
        );
        for code in [
            json!("UNAUTHORIZED"),
            json!("AUDIT_UNAVAILABLE"),
            json!("CONFIRMATION_DENIED"),
            json!("PLUGIN_ERROR"),
            json!("rate_limited"),
            json!("RATE_LIMITED "),
            json!(["RATE_LIMITED"]),
            json!(7),
            Value::Null,
        ] {
            assert_eq!(
                claim(json!({"code": code, "retriable": true, "field": "a"})),
                Refusal::ToolFailed {
                    message: "no".into(),
                    retriable: true
                },
                "{code}"
            );
        }
        assert_eq!(
            tool_error(&json!({"message": 5})),
            Refusal::ToolFailed {
                message: "the tool reported an error".into(),
                retriable: false
            }
        );
    }

    #[test]
    fn a_tools_field_is_plain_and_cut() {
        let field = |raw: Value| match claim(json!({"code": "VALIDATION_FAILED", "field": raw})) {
            Refusal::ToolInvalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(json!("to\u{202e}\n\u{1b}[2J")).as_deref(),
            Some("to[2J")
        );
        let long = field(json!("f".repeat(10_000))).expect("a field");
        assert_eq!(long.chars().count(), MAX_TOOL_FIELD_CHARS);
        assert_eq!(field(json!(3)), None);
        assert_eq!(field(json!("\u{7}")), None);
        assert_eq!(field(Value::Null), None);
    }
}
