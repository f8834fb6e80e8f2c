//! The tools the core answers itself: `list_tools`, `get_session_info`, `get_diagnostics`.
//!
//! They go through the same pipeline as plugin tools and see only the calling
//! session's group and the calling session's own trail.

use crate::refusal::Refusal;
use serde_json::{json, Value};

use super::{RiskLevel, ToolOwner, ToolSpec};
use crate::core::Core;
use crate::pipeline::envelope::Call;
use crate::plugins::PluginHealth;

/// Names of the intrinsic tools; no plugin may use them.
pub const NAMES: [&str; 3] = ["list_tools", "get_session_info", "get_diagnostics"];

/// Most entries `get_diagnostics` returns.
const MAX_DIAGNOSTICS: u64 = 50;

/// The intrinsic tools' declarations.
pub fn specs() -> Vec<ToolSpec> {
    let spec = |name: &str, description: &str, schema: Value| ToolSpec {
        name: name.into(),
        description: description.into(),
        risk_level: RiskLevel::Low,
        arguments_schema: schema,
        owner: ToolOwner::Intrinsic,
    };
    vec![
        spec(
            "list_tools",
            "List the tools this session may call, with descriptions and risk levels.",
            json!({"type": "object", "additionalProperties": false, "properties": {}}),
        ),
        spec(
            "get_session_info",
            "Show this session's group, start time and the health of each plugin.",
            json!({"type": "object", "additionalProperties": false, "properties": {}}),
        ),
        spec(
            "get_diagnostics",
            "Explain what happened to this session's calls: the trail of one correlation, or the last errors.",
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "correlation": {"type": "string", "maxLength": 128},
                    "last_errors": {"type": "integer", "minimum": 1, "maximum": MAX_DIAGNOSTICS}
                }
            }),
        ),
    ]
}

/// Runs an intrinsic tool for `call`.
pub fn call(core: &Core, call: &Call, name: &str) -> Result<Value, Refusal> {
    match name {
        "list_tools" => Ok(list_tools(core, &call.session.group)),
        "get_session_info" => Ok(session_info(core, call)),
        "get_diagnostics" => Ok(diagnostics(call)),
        _ => Err(Refusal::UnknownIntrinsic { name: name.into() }),
    }
}

/// The tools `group` may call.
pub fn list_tools(core: &Core, group: &str) -> Value {
    let tools: Vec<Value> = core
        .catalog()
        .all()
        .into_iter()
        .filter(|t| core.policy().allows(group, &t.spec))
        .map(|t| {
            json!({
                "name": t.spec.name,
                "description": t.spec.description,
                "risk_level": t.spec.risk_level,
                "arguments_schema": t.spec.arguments_schema,
            })
        })
        .collect();
    json!({ "tools": tools })
}

fn session_info(core: &Core, call: &Call) -> Value {
    json!({
        "session": call.session.id,
        "group": call.session.group,
        "started_at": call.session.started_at,
        "plugins": core.plugins().health().into_iter().map(PluginHealth::without_problem).collect::<Vec<_>>(),
    })
}

fn diagnostics(call: &Call) -> Value {
    let events = call.session.recent_events();
    if let Some(Value::String(correlation)) = call.arguments.get("correlation") {
        let trail: Vec<_> = events
            .into_iter()
            .filter(|e| e.get("correlation").and_then(Value::as_str) == Some(correlation))
            .map(Value::Object)
            .collect();
        return json!({ "correlation": correlation, "events": trail });
    }
    let wanted = call
        .arguments
        .get("last_errors")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .min(MAX_DIAGNOSTICS) as usize;
    let mut errors: Vec<_> = events
        .into_iter()
        .filter(|e| {
            e.get("kind").and_then(Value::as_str) == Some("response.sent")
                && e.get("code").is_some_and(|c| !c.is_null())
        })
        .map(Value::Object)
        .collect();
    let skip = errors.len().saturating_sub(wanted);
    errors.drain(..skip);
    json!({ "errors": errors })
}
