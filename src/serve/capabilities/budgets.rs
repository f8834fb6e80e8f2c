//! `budget/extend {group, task?, tokens, by}`: a plugin with the `budgets`
//! capability raises a daily cap of a group it serves for the rest of the UTC
//! day, after its owner said so (e.g. a tap on "allow N more tokens today"
//! under a `budget.exhausted` card). The work is `serve::budget`'s, the same as
//! `carapace budget extend`. Must never raise a cap for a group the plugin does
//! not serve.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, require, require_serves, shown, who, Refused};
use crate::core::Core;
use crate::model_proxy::Scope;
use crate::plugins::manifest::Capability;
use crate::serve::budget::{self, ExtendError};
use crate::serve::pause::Actor;

/// Raise a daily cap.
pub const EXTEND: &str = "budget/extend";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendParams {
    group: String,
    #[serde(default)]
    task: Option<String>,
    tokens: u64,
    by: String,
}

/// Serves `budget/extend`: the answer is the extension (`cap` now in force).
pub fn extend(core: &Core, plugin: &str, params: &Value) -> Result<Value, Refused> {
    require(core, plugin, Capability::Budgets)?;
    let params: ExtendParams = parse(params)?;
    require_serves(core, plugin, &params.group)?;
    let actor = Actor {
        by: who(core, &params.by)?,
        plugin: Some(plugin.to_owned()),
    };
    let scope = Scope {
        group: params.group,
        task: params.task,
    };
    budget::extend(core, &scope, params.tokens, &actor)
        .map(|done| json!(done))
        .map_err(|e: ExtendError| {
            Refused::new(e.code(), e.to_string()).with(json!({"group": shown(core, &scope.group)}))
        })
}
