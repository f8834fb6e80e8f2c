//! What a plugin may ask of the core by a capability its manifest declares
//! (DESIGN §8): [`approvals`] (`confirm/resolve`), [`kill_switch`]
//! (`group/pause`, `group/resume`, `group/status`), [`budgets`]
//! (`budget/extend`) and [`scheduler`] (`scheduler/paused_groups`), each only for the groups
//! the plugin serves (`GroupPolicy::plugin_serves`).
//!
//! These arrive only on a plugin's own JSON-RPC channel (`serve::plugin_services`
//! hands them here, after its per-plugin limits); nothing on a session socket
//! reaches them. The plugin is the one the core knows sent the line, never a
//! name in the params. Every refusal has a stable code (the plugin reads it as
//! `error.data.code`) and goes to the plugin's refusal tally, so a flood of them
//! adds a bounded number of audit lines. Must never decide a call, pause or
//! show a group for a plugin without the capability or outside its groups.

pub mod approvals;
pub mod budgets;
pub mod kill_switch;
pub mod scheduler;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::core::Core;
use crate::plugins::manifest::Capability;

/// The methods served here.
pub const METHODS: [&str; 6] = [
    approvals::RESOLVE,
    budgets::EXTEND,
    kill_switch::PAUSE,
    kill_switch::RESUME,
    kill_switch::STATUS,
    scheduler::PAUSED_GROUPS,
];

/// Longest `by` kept, in characters.
pub const MAX_BY_CHARS: usize = crate::policy::paused::MAX_BY_CHARS;

/// A refused request: why (a stable code), what the plugin is told, and what
/// the audit line adds (ids and names already cut and plain).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// `NOT_CAPABLE`, `INVALID_PARAMS`, `NOT_SERVED`, `NOT_PENDING`, `HASH_MISMATCH`, ...
    pub code: &'static str,
    /// For the plugin.
    pub message: String,
    /// Fields for the audit line (an object).
    pub detail: Value,
    /// Fields the plugin's error `data` carries besides `code` (an object).
    pub answer: Value,
}

impl Refused {
    /// A refusal with nothing more to audit.
    pub fn new(code: &'static str, message: impl Into<String>) -> Refused {
        Refused {
            code,
            message: message.into(),
            detail: json!({}),
            answer: json!({}),
        }
    }

    /// Adds fields to the audit line.
    pub fn with(mut self, detail: Value) -> Refused {
        self.detail = detail;
        self
    }

    /// Adds fields to the error `data` the plugin is answered with.
    pub fn answering(mut self, answer: Value) -> Refused {
        self.answer = answer;
        self
    }
}

/// Whether `method` is served here.
pub fn handles(method: &str) -> bool {
    METHODS.contains(&method)
}

/// Answers one capability request of `plugin`.
pub async fn answer(
    core: &Arc<Core>,
    plugin: &str,
    method: &str,
    params: &Value,
) -> Result<Value, Refused> {
    match method {
        approvals::RESOLVE => approvals::resolve(core, plugin, params),
        budgets::EXTEND => budgets::extend(core, plugin, params),
        kill_switch::PAUSE => kill_switch::pause(core, plugin, params).await,
        kill_switch::RESUME => kill_switch::resume(core, plugin, params),
        kill_switch::STATUS => kill_switch::status(core, plugin, params),
        scheduler::PAUSED_GROUPS => scheduler::paused_groups(core, plugin, params),
        _ => Err(Refused::new("UNKNOWN_METHOD", "not a capability method")),
    }
}

/// Refuses unless `plugin`'s manifest declares `capability` and the person
/// granted it in `config.toml` (`[plugins.<name>] capabilities`).
fn require(core: &Core, plugin: &str, capability: Capability) -> Result<(), Refused> {
    granted(core, plugin, capability).map_err(|(message, granted)| {
        let detail = match granted {
            Some(granted) => json!({"capability": capability, "granted": granted}),
            None => json!({"capability": capability}),
        };
        Refused::new("NOT_CAPABLE", message).with(detail)
    })
}

/// Whether `plugin` may use `capability`: its manifest declares it and the
/// person granted it (a manifest alone grants nothing, since a plugin's update
/// could otherwise give itself the power). The refusal: what the plugin is
/// told, and `Some(false)` when only the grant is missing.
pub fn granted(
    core: &Core,
    plugin: &str,
    capability: Capability,
) -> Result<(), (String, Option<bool>)> {
    if !core.plugins().has_capability(plugin, capability) {
        return Err((
            format!("this plugin's manifest does not declare the capability `{capability}`"),
            None,
        ));
    }
    let granted = core
        .config()
        .plugin_settings(plugin)
        .capabilities
        .iter()
        .any(|c| c == capability.as_str());
    if !granted {
        return Err((
            format!(
                "the capability `{capability}` is not granted to this plugin: the person adds \
                 `capabilities = [\"{capability}\"]` under `[plugins.<name>]` in config.toml"
            ),
            Some(false),
        ));
    }
    Ok(())
}

/// Parses `params` strictly (unknown fields refused).
fn parse<T: DeserializeOwned>(params: &Value) -> Result<T, Refused> {
    serde_json::from_value(params.clone()).map_err(|e| {
        let why: String = crate::display::strip(&e.to_string(), 200);
        Refused::new("INVALID_PARAMS", format!("bad params: {why}"))
    })
}

/// The deciding user as the plugin names it: plain (control, format and other
/// invisible characters removed), redacted, at most [`MAX_BY_CHARS`]; refused when empty.
fn who(core: &Core, by: &str) -> Result<String, Refused> {
    let plain = crate::display::strip(by, 4 * MAX_BY_CHARS);
    let plain = core.sanitizer.redact_cut(plain.trim(), MAX_BY_CHARS);
    if plain.is_empty() {
        return Err(Refused::new(
            "INVALID_PARAMS",
            "`by` must name who decided (a non-empty string)",
        ));
    }
    Ok(plain)
}

/// A name that came from the plugin, as an audit line or a message may show it.
fn shown(core: &Core, text: &str) -> String {
    let plain = crate::display::strip(text, 256);
    core.sanitizer.redact_cut(&plain, 64)
}

/// Refuses unless `plugin` serves `group`.
fn require_serves(core: &Core, plugin: &str, group: &str) -> Result<(), Refused> {
    if core.policy().plugin_serves(plugin, group) {
        return Ok(());
    }
    let group = shown(core, group);
    Err(Refused::new(
        "NOT_SERVED",
        format!("group `{group}` is not one this plugin serves"),
    )
    .with(json!({"group": group})))
}
