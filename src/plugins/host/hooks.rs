//! What the core sends a plugin besides tool calls: events to the plugins
//! subscribed to their topic, and the `memory_brief` hook at session start.
//!
//! One plugin briefs: the one `[agent] memory_brief` names, else the only one
//! whose manifest provides the hook. When several provide it and none is named,
//! nobody briefs (a brief chosen by plugin name order could come from a plugin
//! the person never meant as memory) and `status`/`doctor` say how to choose.
//!
//! Fire-and-forget or bounded by a deadline: must never hold a caller past it,
//! nor send an event to a plugin not subscribed to its topic, or about a group
//! the plugin does not serve.

use std::time::Duration;

use serde_json::json;
use serde_json::Value;

use super::PluginHost;
use crate::plugins::process::RpcOutcome;
use crate::session::Origin;

/// The hook a memory plugin provides to brief each new agent session.
pub const MEMORY_BRIEF_HOOK: &str = "memory_brief";

/// Which plugin briefs new sessions, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BriefProvider {
    /// The plugin asked for the brief; `None`: sessions start without one.
    pub plugin: Option<String>,
    /// Why none is asked although some plugin could be (the fix included).
    pub problem: Option<String>,
}

impl PluginHost {
    /// Sends an `event` notification to every running plugin subscribed to a
    /// prefix of `topic` that `may_see` allows (by plugin name).
    pub fn forward_event(&self, topic: &str, envelope: &Value, may_see: impl Fn(&str) -> bool) {
        for (name, slot) in &self.slots {
            let subscribed = slot
                .plugin
                .manifest
                .subscribes
                .iter()
                .any(|prefix| topic.starts_with(prefix.as_str()));
            if !subscribed || !may_see(name.as_str()) {
                continue;
            }
            if let Some(process) = slot.process() {
                let params = json!({ "envelope": envelope });
                tokio::spawn(async move { process.notify("event", params).await });
            }
        }
    }

    /// Which plugin briefs new sessions: `chosen` (`[agent] memory_brief`) if
    /// its manifest provides the hook, else the only plugin that does.
    pub fn brief_provider(&self, chosen: Option<&str>) -> BriefProvider {
        let providers: Vec<&String> = self
            .slots
            .iter()
            .filter(|(_, slot)| {
                slot.plugin
                    .manifest
                    .provides
                    .hooks
                    .iter()
                    .any(|h| h == MEMORY_BRIEF_HOOK)
            })
            .map(|(name, _)| name)
            .collect();
        let names = || {
            providers
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let none = |problem: String| BriefProvider {
            plugin: None,
            problem: Some(problem),
        };
        match (chosen, providers.as_slice()) {
            (Some(chosen), _) if providers.iter().any(|n| n.as_str() == chosen) => BriefProvider {
                plugin: Some(chosen.to_owned()),
                problem: None,
            },
            (Some(chosen), _) => {
                none(format!(
                "`agent.memory_brief` names plugin `{chosen}`, which is not loaded or does not \
                 provide the memory_brief hook (plugins that do: {}); sessions start without a \
                 brief",
                if providers.is_empty() { "none".into() } else { names() }
            ))
            }
            (None, []) => BriefProvider {
                plugin: None,
                problem: None,
            },
            (None, [only]) => BriefProvider {
                plugin: Some((*only).clone()),
                problem: None,
            },
            (None, _) => none(format!(
                "plugins {} all provide the memory_brief hook; sessions start without a brief \
                 until `[agent] memory_brief = \"<name>\"` in config.toml names the one to ask",
                names()
            )),
        }
    }

    /// The memory brief for a new session of `group` (its id and origin told, so the
    /// plugin knows whom it briefs) from the plugin [`PluginHost::brief_provider`]
    /// picks, within `deadline`; `None` when there is none or it does not answer in time.
    pub async fn memory_brief(
        &self,
        chosen: Option<&str>,
        group: &str,
        session: &str,
        origin: &Origin,
        deadline: Duration,
    ) -> Option<(String, String)> {
        let provider = self.brief_provider(chosen);
        if let Some(problem) = &provider.problem {
            tracing::warn!(%problem, "no memory brief");
        }
        let name = provider.plugin?;
        let process = self.slots.get(&name)?.process()?;
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
