//! What the core offers plugins: `services/*` requests and `event/publish`.
//!
//! Every service is scoped to the group of a `tool/call` the plugin is
//! handling right now and names; an unknown or finished call is refused. Must
//! never let a plugin see another group's data or publish a topic it may not.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::host::CallScope;
use super::process::FromPlugin;
use crate::core::Core;

/// Most audit entries one `services/audit_log` answer carries.
const MAX_AUDIT_ENTRIES: usize = 100;
/// How far back `services/audit_log` looks.
const AUDIT_WINDOW: usize = 2000;

/// Serves plugin requests until the channel closes.
pub async fn serve(core: Arc<Core>, mut from_plugins: mpsc::UnboundedReceiver<FromPlugin>) {
    while let Some(message) = from_plugins.recv().await {
        match message {
            FromPlugin::Request {
                plugin,
                id,
                method,
                params,
            } => {
                let core = Arc::clone(&core);
                tokio::spawn(async move {
                    let outcome = answer(&core, &plugin, &method, &params);
                    if let Some(process) = core.plugins().process(&plugin) {
                        process.respond(id, outcome).await;
                    }
                });
            }
            FromPlugin::Notification {
                plugin,
                method,
                params,
            } => notification(&core, &plugin, &method, &params),
        }
    }
}

fn answer(core: &Core, plugin: &str, method: &str, params: &Value) -> Result<Value, String> {
    let scope = || -> Result<CallScope, String> {
        let call = params
            .get("call")
            .and_then(Value::as_u64)
            .ok_or("`call` (the id of a tool/call in flight) is required")?;
        core.plugins()
            .scope_of(plugin, call)
            .ok_or_else(|| format!("call {call} is not in flight for this plugin"))
    };
    let result = match method {
        "services/tool_catalog" => {
            let scope = scope()?;
            let tools: Vec<Value> = core
                .catalog()
                .all()
                .into_iter()
                .filter(|t| core.policy().allows(&scope.group, &t.spec))
                .map(|t| json!({"name": t.spec.name, "description": t.spec.description, "risk_level": t.spec.risk_level}))
                .collect();
            Ok(json!(tools))
        }
        "services/session_info" => {
            let scope = scope()?;
            let session = core
                .sessions
                .get(&scope.session)
                .ok_or("the session has ended")?;
            Ok(
                json!({"session": session.id, "group": session.group, "started_at": session.started_at}),
            )
        }
        "services/audit_log" => {
            let scope = scope()?;
            let limit = params
                .get("limit")
                .and_then(Value::as_u64)
                .map_or(20, |n| n as usize)
                .min(MAX_AUDIT_ENTRIES);
            let entries = crate::audit::tail(&core.home.audit_dir(), AUDIT_WINDOW)
                .map_err(|_| "the audit log cannot be read".to_owned())?;
            let mut mine: Vec<Value> = entries
                .into_iter()
                .filter(|e| {
                    e.event.get("group").and_then(Value::as_str) == Some(scope.group.as_str())
                })
                .map(|e| json!({"seq": e.seq, "ts": e.ts, "event": e.event}))
                .collect();
            let skip = mine.len().saturating_sub(limit);
            mine.drain(..skip);
            Ok(json!(mine))
        }
        _ => Err(format!(
            "unknown method `{}`",
            method.chars().take(64).collect::<String>()
        )),
    };
    core.audit_core(
        "plugin.service",
        json!({"plugin": plugin, "method": core.sanitizer.redact_cut(method, 64), "ok": result.is_ok()}),
    );
    result
}

fn notification(core: &Arc<Core>, plugin: &str, method: &str, params: &Value) {
    if method != "event/publish" {
        tracing::debug!(%plugin, %method, "ignored plugin notification");
        return;
    }
    let topic = params.get("topic").and_then(Value::as_str).unwrap_or("");
    let group = params.get("group").and_then(Value::as_str).unwrap_or("");
    let allowed = match topic {
        "message.inbound" => core.plugins().is_channel(plugin),
        t if t.starts_with("task.") => plugin == "scheduler",
        _ => false,
    };
    let known_group = core.policy().has_group(group);
    // The plugin's own words, going into the log: redacted, then cut.
    let shown_topic = core.sanitizer.redact_cut(topic, 64);
    if !allowed || !known_group {
        tracing::warn!(%plugin, topic = %shown_topic, "refused an event the plugin may not publish");
        core.audit_core(
            "event.refused",
            json!({"plugin": plugin, "topic": shown_topic, "group": core.sanitizer.redact_cut(group, 64)}),
        );
        return;
    }
    let payload = params.get("payload").cloned().unwrap_or(Value::Null);
    core.audit_core(
        "event.published",
        json!({"plugin": plugin, "topic": shown_topic, "group": group}),
    );
    core.publish(
        topic,
        json!({"plugin": plugin, "group": group, "payload": payload}),
    );
    crate::agent::events::on_event(core, topic, plugin, group, &payload);
}
