//! What the core sends a plugin besides tool calls: events to the plugins
//! subscribed to their topic, and the `memory_brief` hook at session start.
//!
//! Fire-and-forget or bounded by a deadline: must never hold a caller past it,
//! nor send an event to a plugin not subscribed to its topic.

use std::time::Duration;

use serde_json::json;
use serde_json::Value;

use super::PluginHost;
use crate::plugins::process::RpcOutcome;
use crate::session::Origin;

/// The hook a memory plugin provides to brief each new agent session.
pub const MEMORY_BRIEF_HOOK: &str = "memory_brief";

impl PluginHost {
    /// Sends an `event` notification to every running plugin subscribed to a prefix of `topic`.
    pub fn forward_event(&self, topic: &str, envelope: &Value) {
        for slot in self.slots.values() {
            let subscribed = slot
                .plugin
                .manifest
                .subscribes
                .iter()
                .any(|prefix| topic.starts_with(prefix.as_str()));
            if !subscribed {
                continue;
            }
            if let Some(process) = slot.process() {
                let params = json!({ "envelope": envelope });
                tokio::spawn(async move { process.notify("event", params).await });
            }
        }
    }

    /// The memory brief for a new session of `group` (its id and origin told, so the
    /// plugin knows whom it briefs) from the first running plugin that provides the
    /// `memory_brief` hook, within `deadline`; `None` when none answers in time.
    pub async fn memory_brief(
        &self,
        group: &str,
        session: &str,
        origin: &Origin,
        deadline: Duration,
    ) -> Option<(String, String)> {
        let (name, slot) = self.slots.iter().find(|(_, slot)| {
            slot.plugin
                .manifest
                .provides
                .hooks
                .iter()
                .any(|h| h == MEMORY_BRIEF_HOOK)
        })?;
        let process = slot.process()?;
        let params = json!({ "group": group, "session": session, "origin": origin });
        match process.request("hook/memory_brief", params, deadline).await {
            Ok(RpcOutcome::Result(answer)) => {
                let markdown = answer.get("markdown")?.as_str()?;
                Some((name.clone(), markdown.to_owned()))
            }
            Ok(RpcOutcome::Error(_)) => {
                tracing::warn!(plugin = %name, "the memory brief hook answered an error");
                None
            }
            Err(failure) => {
                tracing::warn!(plugin = %name, ?failure, "no memory brief in time");
                None
            }
        }
    }
}
