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
//!
//! A `task.triggered` must carry a `payload.fire_id` (the task and its
//! scheduled instant); the core starts at most one session per fire id
//! (`agent::fires`), so a scheduler may publish a fire again after a crash.
//! One without a fire id is refused (`NO_FIRE_ID`), one seen before too
//! (`FIRE_TAKEN`), and one without a task id (`payload.task`, what the task's
//! token cap is kept by) as well (`NO_TASK_ID`).
//!
//! [`on_event`] answers what became of the event ([`Outcome`]) once that is
//! settled: for `task.triggered`, after its fire id is on disk (or found taken)
//! and its session queued or refused. An acknowledged `event/publish`
//! (`serve::plugin_publish`) answers the plugin only then.

use std::sync::Arc;

use serde_json::{json, Value};

use super::fires::{valid_fire_id, Taken};
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

/// What became of a published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its topic starts no session.
    NoSession,
    /// Its session is queued (its outcome comes on `agent.*`).
    Queued,
    /// It starts no session: refused, audited and published as `agent.refused`.
    Refused {
        /// `GROUP_PAUSED`, `NO_PROMPT`, `NO_TASK_ID`, `NO_FIRE_ID` or `FIRE_TAKEN`.
        code: &'static str,
        /// Why, for the plugin.
        reason: &'static str,
        /// For `GROUP_PAUSED`: the paused set's generation it was refused at.
        generation: Option<u64>,
    },
}

/// Starts an agent session for an allowed, published event; refusals are
/// audited. Answers once the event's fate is settled (see the module doc).
pub fn on_event(
    core: &Arc<Core>,
    topic: &str,
    plugin: &str,
    group: &str,
    payload: &Value,
) -> Outcome {
    // Only the topics that start a session have an origin.
    let Some(origin) = Origin::of_event(topic, plugin, payload) else {
        return Outcome::NoSession;
    };
    let asked_by = json!({"topic": topic, "plugin": plugin, "payload": payload});
    let refused = |code: &'static str, reason: &'static str, generation: Option<u64>| {
        refuse(core, &asked_by, group, code, reason);
        Outcome::Refused {
            code,
            reason,
            generation,
        }
    };
    // A task's fire is taken once, before anything else can refuse it: a fire a
    // paused group refused is spent too, never run later.
    if topic == "task.triggered" {
        if let Err((code, reason)) = take_fire(core, plugin, group, payload) {
            return refused(code, reason, None);
        }
    }
    let (paused, generation) = core.paused.state(group);
    if paused {
        return refused("GROUP_PAUSED", "the group is paused", Some(generation));
    }
    let prompt = match prompt_of(topic, payload) {
        Ok(prompt) => prompt,
        Err(reason) => return refused("NO_PROMPT", reason, None),
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
    Outcome::Queued
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

/// Takes a `task.triggered` event's `payload.fire_id` (`agent::fires`): the
/// refusal's code and reason when it has none or it started a session before.
fn take_fire(
    core: &Core,
    plugin: &str,
    group: &str,
    payload: &Value,
) -> Result<(), (&'static str, &'static str)> {
    // The task id is what its own token cap is kept by: a fire without a
    // usable one would run under its group's cap alone.
    let task_id = Origin::of_event("task.triggered", plugin, payload).and_then(|o| o.sender);
    if task_id.is_none() {
        return Err((
            "NO_TASK_ID",
            "payload.task must name the task (a non-empty plain string)",
        ));
    }
    let Some(fire_id) = payload
        .get("fire_id")
        .and_then(Value::as_str)
        .filter(|id| valid_fire_id(id))
    else {
        return Err((
            "NO_FIRE_ID",
            "payload.fire_id must be a fire id (1 to 128 of [A-Za-z0-9_.:@+-])",
        ));
    };
    match core.task_fires.take(fire_id) {
        Taken::Again => Err(("FIRE_TAKEN", "this fire already started a session")),
        Taken::New { saved } => {
            if let Err(e) = saved {
                // Started all the same (a skipped fire is no better than a repeat
                // the core would only allow after its own restart); said loudly.
                tracing::error!(%plugin, %group, %fire_id, error = %e, "a task fire could not be recorded");
                core.audit_core(
                    "task.fire_unrecorded",
                    json!({"plugin": plugin, "group": group, "fire_id": fire_id}),
                );
            }
            Ok(())
        }
    }
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
