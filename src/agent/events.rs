//! Agent sessions started by the bus: `message.inbound` from a channel plugin
//! (its `payload.text` is the prompt) and `task.triggered` from the scheduler
//! (its `payload.prompt`), for the group the event names.
//!
//! The session records its origin from the event (`session::origin`: the
//! publishing plugin as the core knows it, the sender and trust it reported).
//! The event itself comes back on `agent.completed`/`agent.error` as
//! `origin` (`{topic, plugin, payload}`), so the channel that asked can deliver
//! the answer where the message came from. An event without a usable prompt,
//! or for a paused group (`GROUP_PAUSED`), is refused, audited and published as
//! `agent.refused {group, code, reason, origin}` (so the channel can say so);
//! it never becomes a session.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::core::Core;
use crate::serve::lifecycle::SessionError;
use crate::session::Origin;

/// Largest prompt an event may carry.
pub const MAX_PROMPT_BYTES: usize = 32 << 10;

/// The topics that start an agent session.
pub fn starts_a_session(topic: &str) -> bool {
    Origin::of_event(topic, "", &Value::Null).is_some()
}

/// The prompt an event carries, or why it has none.
pub fn prompt_of(topic: &str, payload: &Value) -> Result<String, &'static str> {
    let key = match topic {
        "message.inbound" => "text",
        "task.triggered" => "prompt",
        _ => return Err("this topic does not start a session"),
    };
    let text = payload
        .get(key)
        .and_then(Value::as_str)
        .ok_or(match topic {
            "message.inbound" => "payload.text must be a string",
            _ => "payload.prompt must be a string",
        })?;
    if text.trim().is_empty() {
        return Err("the prompt is empty");
    }
    if text.len() > MAX_PROMPT_BYTES {
        return Err("the prompt is over 32 KiB");
    }
    if text.contains('\0') {
        return Err("the prompt contains NUL");
    }
    Ok(text.to_owned())
}

/// Starts an agent session for an allowed, published event; refusals are audited.
pub fn on_event(core: &Arc<Core>, topic: &str, plugin: &str, group: &str, payload: &Value) {
    // Only the topics that start a session have an origin.
    let Some(origin) = Origin::of_event(topic, plugin, payload) else {
        return;
    };
    let asked_by = json!({"topic": topic, "plugin": plugin, "payload": payload});
    let refused = |code: &str, reason: &str| refuse(core, &asked_by, group, code, reason);
    if core.paused.is_paused(group) {
        refused("GROUP_PAUSED", "the group is paused");
        return;
    }
    let prompt = match prompt_of(topic, payload) {
        Ok(prompt) => prompt,
        Err(reason) => {
            refused("NO_PROMPT", reason);
            return;
        }
    };
    let (core, group) = (Arc::clone(core), group.to_owned());
    tokio::spawn(async move {
        // The outcome is published and audited by `spawn`; nothing waits for it here.
        let spawned =
            super::spawn(&core, &group, &prompt, origin, Some(asked_by.clone()), None).await;
        match spawned {
            // Paused while it waited for a turn: told like a message refused at once.
            Err(super::AgentError::Session(SessionError::GroupPaused(_))) => refuse(
                &core,
                &asked_by,
                &group,
                "GROUP_PAUSED",
                "the group was paused before the session started",
            ),
            Err(e) => tracing::warn!(%group, error = %e, "an event's agent session failed"),
            Ok(_) => {}
        }
    });
}

/// Audits and publishes `agent.refused` for the event `asked_by` (`{topic,
/// plugin, payload}`), so the channel can tell the person why nothing answers.
fn refuse(core: &Core, asked_by: &Value, group: &str, code: &str, reason: &str) {
    core.audit_core(
        "agent.refused",
        json!({"topic": asked_by["topic"], "plugin": asked_by["plugin"], "group": group,
               "code": code, "reason": reason}),
    );
    core.publish(
        "agent.refused",
        json!({"group": group, "code": code, "reason": reason, "origin": asked_by}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_topic_has_its_prompt_field() {
        assert_eq!(
            prompt_of("message.inbound", &json!({"text": "hi", "chat": 7})),
            Ok("hi".into())
        );
        assert_eq!(
            prompt_of("task.triggered", &json!({"prompt": "daily summary"})),
            Ok("daily summary".into())
        );
        assert!(prompt_of("message.inbound", &json!({"prompt": "hi"})).is_err());
        assert!(prompt_of("task.created", &json!({"prompt": "hi"})).is_err());
    }

    #[test]
    fn unusable_prompts_are_refused() {
        for payload in [
            json!({"text": 7}),
            json!({"text": "   "}),
            json!({"text": "a\u{0}b"}),
            json!({"text": "x".repeat(MAX_PROMPT_BYTES + 1)}),
            json!("text"),
            Value::Null,
        ] {
            assert!(prompt_of("message.inbound", &payload).is_err(), "{payload}");
        }
        assert!(starts_a_session("task.triggered") && !starts_a_session("agent.completed"));
    }
}
