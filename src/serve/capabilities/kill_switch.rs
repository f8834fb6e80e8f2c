//! `group/pause {group, by}`, `group/resume {group, by}` and `group/status
//! {group}`: a plugin with the `kill_switch` capability stops, restarts and
//! looks at a group it serves (e.g. `/stop`, `/resume`, `/status` from the
//! owner in a chat). The work is `serve::pause`'s, the same as `carapace
//! pause|resume`; the pause is recorded with the user the plugin names and the
//! plugin. Must never act on a group the plugin does not serve.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, require, require_serves, who, Refused};
use crate::core::Core;
use crate::plugins::manifest::Capability;
use crate::serve::pause::{self, Actor, PauseError};

/// Pause a group.
pub const PAUSE: &str = "group/pause";
/// Resume a group.
pub const RESUME: &str = "group/resume";
/// A group's running sessions, pending approvals and paused state.
pub const STATUS: &str = "group/status";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActParams {
    group: String,
    by: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusParams {
    group: String,
}

/// The actor and group of a pause or resume, once every check passed.
fn act(core: &Core, plugin: &str, params: &Value) -> Result<(String, Actor), Refused> {
    require(core, plugin, Capability::KillSwitch)?;
    let params: ActParams = parse(params)?;
    require_serves(core, plugin, &params.group)?;
    let by = who(core, &params.by)?;
    // Each pause sweeps the group and each change is audited: a plugin
    // alternating them must not flood the log or keep a group churning.
    if !core
        .paused
        .plugin_change_allowed(&params.group, std::time::Instant::now())
    {
        return Err(Refused::new(
            "RATE_LIMITED",
            format!(
                "more than {} pauses and resumes of this group in {} s; the person at the host can always use `carapace pause|resume`",
                crate::policy::paused::MAX_PLUGIN_CHANGES,
                crate::policy::paused::CHANGE_WINDOW.as_secs()
            ),
        )
        .with(json!({"group": params.group})));
    }
    Ok((
        params.group,
        Actor {
            by,
            plugin: Some(plugin.to_owned()),
        },
    ))
}

/// Serves `group/pause`: the answer is the pause's report.
pub async fn pause(core: &Arc<Core>, plugin: &str, params: &Value) -> Result<Value, Refused> {
    let (group, actor) = act(core, plugin, params)?;
    pause::pause(core, &group, &actor)
        .await
        .map(|report| json!(report))
        .map_err(refused)
}

/// Serves `group/resume`; a pause made at the host (`carapace pause`) is lifted
/// only at the host: the person may have paused because the chat is not to be trusted.
pub fn resume(core: &Arc<Core>, plugin: &str, params: &Value) -> Result<Value, Refused> {
    let (group, actor) = act(core, plugin, params)?;
    if core
        .paused
        .get(&group)
        .is_some_and(|pause| pause.plugin.is_none())
    {
        return Err(Refused::new(
            "PAUSED_AT_HOST",
            format!(
                "group `{}` was paused at the host; only `carapace resume` there lifts it",
                crate::display::escape_str(&group)
            ),
        )
        .with(json!({"group": group})));
    }
    pause::resume(core, &group, &actor)
        .map(|was| json!({"group": group, "resumed": was.is_some()}))
        .map_err(refused)
}

/// Serves `group/status`: whether the group is paused (by whom, when), its
/// open sessions (with their origins and containers) and its pending calls
/// (arguments redacted, as published).
pub fn status(core: &Arc<Core>, plugin: &str, params: &Value) -> Result<Value, Refused> {
    require(core, plugin, Capability::KillSwitch)?;
    let params: StatusParams = parse(params)?;
    require_serves(core, plugin, &params.group)?;
    let group = params.group;
    let sessions: Vec<Value> = core
        .sessions
        .all()
        .iter()
        .filter(|s| s.group == group)
        .map(|s| {
            let container = core.agents.get(&s.id).map(|agent| agent.container);
            json!({"id": s.id, "started_at": s.started_at, "origin": s.origin,
                   "container": container})
        })
        .collect();
    let pending: Vec<Value> = core
        .confirmations
        .list()
        .into_iter()
        .filter(|p| p.group == group)
        .map(|p| json!(p))
        .collect();
    let pause = core.paused.get(&group);
    Ok(
        json!({"group": group, "paused": pause.is_some(), "pause": pause,
              "sessions": sessions, "pending": pending}),
    )
}

/// A refused pause or resume as the plugin is told it (never a host path).
fn refused(error: PauseError) -> Refused {
    match error {
        PauseError::UnknownGroup(group) => Refused::new(
            "NOT_SERVED",
            format!("group `{group}` is not one this plugin serves"),
        ),
        PauseError::NotWritten(e) => {
            tracing::error!(error = %e, "a plugin's resume could not be written");
            Refused::new(
                "NOT_WRITTEN",
                "the resume could not be written, so the group stays paused (see the core's log)",
            )
        }
    }
}
