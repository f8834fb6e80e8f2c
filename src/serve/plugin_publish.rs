//! `event/publish {topic, group, payload}` from a plugin, sent as a
//! notification (answered by nothing) or as a request (acknowledged).
//!
//! Admitted: `message.inbound` from a channel plugin, `task.*` from a plugin
//! whose manifest declares the capability `scheduler` and to which the person
//! granted it (never by its name), each for a group the plugin serves; any
//! other is not published (the caller audits and tallies `event.refused`).
//!
//! A request is answered once the event's fate is settled
//! (`agent::events::on_event`): for `task.triggered`, after its fire id is on
//! disk or found taken and its session queued or refused. The answer is `{}`
//! for an event published (and its session queued, if its topic starts one);
//! an error whose `data.code` says why otherwise: `NOT_ALLOWED` (not
//! published), or the session's refusal (`GROUP_PAUSED` with the paused set's
//! `generation`, `FIRE_TAKEN`, `NO_FIRE_ID`, `NO_TASK_ID`, `NO_PROMPT`).
//! So a scheduler marks a fire done only once the core has it. Must never
//! answer before the fire id is written.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::agent::events::{on_event, Outcome};
use crate::core::Core;
use crate::serve::capabilities::{self, Refused};

/// The method, as a notification or a request.
pub const PUBLISH: &str = "event/publish";

/// An event the plugin may not publish: its topic and group as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    /// The topic.
    pub topic: String,
    /// The group.
    pub group: String,
}

/// Publishes `params` for `plugin` if it may, and starts the session its topic
/// asks for: what became of it, or why it was not published.
pub fn publish(core: &Arc<Core>, plugin: &str, params: &Value) -> Result<Outcome, NotAllowed> {
    let topic = params.get("topic").and_then(Value::as_str).unwrap_or("");
    let group = params.get("group").and_then(Value::as_str).unwrap_or("");
    let allowed = match topic {
        "message.inbound" => core.plugins().is_channel(plugin),
        // A capability its manifest declares and the person granted, never its
        // name: a plugin named `scheduler` without both is refused like any other.
        t if t.starts_with("task.") => capabilities::granted(
            core,
            plugin,
            crate::plugins::manifest::Capability::Scheduler,
        )
        .is_ok(),
        _ => false,
    };
    // Only for a group the plugin serves: a channel limited to `public` must not
    // start a session of `main`, least of all one it says the owner sent.
    if !allowed || !core.policy().plugin_serves(plugin, group) {
        return Err(NotAllowed {
            topic: topic.to_owned(),
            group: group.to_owned(),
        });
    }
    let payload = params.get("payload").cloned().unwrap_or(Value::Null);
    core.audit_core(
        "event.published",
        json!({"plugin": plugin, "topic": crate::serve::plugin_services::shown(core, topic),
               "group": group}),
    );
    core.publish(
        topic,
        json!({"plugin": plugin, "group": group, "payload": payload}),
    );
    Ok(on_event(core, topic, plugin, group, &payload))
}

/// The answer to an acknowledged publish.
pub fn answer(published: Result<Outcome, NotAllowed>) -> Result<Value, Refused> {
    match published {
        Ok(Outcome::NoSession | Outcome::Queued) => Ok(json!({})),
        Ok(Outcome::Refused {
            code,
            reason,
            generation,
        }) => {
            let refused = Refused::new(code, reason);
            Err(match generation {
                Some(generation) => refused.answering(json!({"generation": generation})),
                None => refused,
            })
        }
        Err(NotAllowed { .. }) => Err(Refused::new(
            "NOT_ALLOWED",
            "this plugin may not publish that topic for that group",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_session_is_an_error_with_its_code_and_a_pause_its_generation() {
        assert_eq!(answer(Ok(Outcome::Queued)), Ok(json!({})));
        assert_eq!(answer(Ok(Outcome::NoSession)), Ok(json!({})));
        let paused = answer(Ok(Outcome::Refused {
            code: "GROUP_PAUSED",
            reason: "the group is paused",
            generation: Some(7),
        }))
        .expect_err("refused");
        assert_eq!(
            (paused.code, paused.answer),
            ("GROUP_PAUSED", json!({"generation": 7}))
        );
        let taken = answer(Ok(Outcome::Refused {
            code: "FIRE_TAKEN",
            reason: "taken",
            generation: None,
        }))
        .expect_err("refused");
        assert_eq!((taken.code, taken.answer), ("FIRE_TAKEN", json!({})));
        let not = answer(Err(NotAllowed {
            topic: "task.triggered".into(),
            group: "main".into(),
        }))
        .expect_err("refused");
        assert_eq!(not.code, "NOT_ALLOWED");
    }
}
