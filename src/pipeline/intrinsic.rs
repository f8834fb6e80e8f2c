//! The handlers of the tools the core answers itself (declared in
//! `tools::intrinsic`), beside the router that calls them. They go through the
//! same pipeline as plugin tools and see only the calling session's group and
//! the calling session's own trail; must never show another session's data or
//! a plugin's problem text (it names host paths).

use serde_json::{json, Value};

use super::envelope::Call;
use crate::core::Core;
use crate::plugins::PluginHealth;
use crate::policy::GroupPolicy;
use crate::refusal::Refusal;
use crate::tools::intrinsic::MAX_DIAGNOSTICS;
use crate::tools::Catalog;

/// Runs an intrinsic tool for `call`.
pub fn call(core: &Core, call: &Call, name: &str) -> Result<Value, Refusal> {
    match name {
        "list_tools" => Ok(list_tools(
            &core.catalog(),
            &core.policy(),
            &call.session.group,
        )),
        "get_session_info" => Ok(session_info(core, call)),
        "get_diagnostics" => Ok(diagnostics(call)),
        _ => Err(Refusal::UnknownIntrinsic { name: name.into() }),
    }
}

/// The tools `group` may call.
pub fn list_tools(catalog: &Catalog, policy: &GroupPolicy, group: &str) -> Value {
    let tools: Vec<Value> = catalog
        .all()
        .into_iter()
        .filter(|t| policy.allows(group, &t.spec))
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
        "origin": call.session.origin,
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
