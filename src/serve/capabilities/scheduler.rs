//! `scheduler/paused_groups {}`: a plugin with the `scheduler` capability asks
//! which of the groups it serves are paused, with the paused set's generation
//! (`PausedGroups::state`). `group.paused` and `group.resumed` carry the same
//! generation, so the scheduler orders what it hears, and asks again whenever
//! it is about to pass a fire over for a pause. Must never name a group the
//! plugin does not serve.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, require, Refused};
use crate::core::Core;
use crate::plugins::manifest::Capability;

/// The paused groups a scheduler serves.
pub const PAUSED_GROUPS: &str = "scheduler/paused_groups";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// Serves `scheduler/paused_groups`: `{generation, groups}`.
pub fn paused_groups(core: &Arc<Core>, plugin: &str, params: &Value) -> Result<Value, Refused> {
    require(core, plugin, Capability::Scheduler)?;
    let NoParams {} = parse(params)?;
    let (paused, generation) = core.paused.snapshot();
    let policy = core.policy();
    let groups: Vec<String> = paused
        .into_iter()
        .filter(|group| policy.plugin_serves(plugin, group))
        .collect();
    Ok(json!({"generation": generation, "groups": groups}))
}
