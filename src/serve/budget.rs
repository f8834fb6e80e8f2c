//! Budgets at work: the caps the model proxies reach are published and
//! audited (`budget.exhausted`), and a cap is raised for the rest of the UTC
//! day (`budget.extended`) by the person at the host (`carapace budget
//! extend`) or by a plugin with the `budgets` capability (`budget/extend`,
//! e.g. the owner's tap in a chat). Must never raise a cap that is not
//! configured, for a group that does not exist, or by an unbounded amount.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::valid_group_name;
use crate::core::Core;
use crate::model_proxy::{Exhausted, Scope, ScopeDay};
use crate::serve::pause::Actor;

/// Most tokens one extension may add (a tap that slips cannot open the tap).
pub const MAX_EXTEND_TOKENS: u64 = 100_000_000;
/// Longest task id accepted, in characters.
pub const MAX_TASK_CHARS: usize = 128;

/// Why an extension was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExtendError {
    /// Not a configured group.
    #[error("group `{0}` is not configured")]
    UnknownGroup(String),
    /// Zero, or more than [`MAX_EXTEND_TOKENS`].
    #[error("tokens must be from 1 to {MAX_EXTEND_TOKENS}")]
    BadAmount,
    /// A task id that is empty, too long or not plain.
    #[error("the task id must be 1 to {MAX_TASK_CHARS} plain characters")]
    BadTask,
    /// No cap applies to it: there is nothing to raise.
    #[error("{0} has no daily cap (model.daily_token_budget, model.group_budgets, model.task_daily_token_budget, model.task_budgets)")]
    NotCapped(String),
    /// The extension could not be written; it is not in force.
    #[error("the extension could not be recorded, so it is not in force: {0}")]
    NotWritten(std::io::Error),
}

impl ExtendError {
    /// A stable code for a plugin.
    pub fn code(&self) -> &'static str {
        match self {
            ExtendError::UnknownGroup(_) => "NOT_SERVED",
            ExtendError::BadAmount | ExtendError::BadTask => "INVALID_PARAMS",
            ExtendError::NotCapped(_) => "NOT_CAPPED",
            ExtendError::NotWritten(_) => "NOT_WRITTEN",
        }
    }
}

/// What an extension did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extended {
    /// The group (and task) whose cap was raised.
    #[serde(flatten)]
    pub scope: Scope,
    /// Tokens added now.
    pub tokens: u64,
    /// The cap in force for the rest of the day.
    pub cap: u64,
    /// Tokens used today.
    pub used: u64,
}

/// Raises the cap of `scope` by `tokens` for today, for `actor`; audited and published.
pub fn extend(
    core: &Core,
    scope: &Scope,
    tokens: u64,
    actor: &Actor,
) -> Result<Extended, ExtendError> {
    if !valid_group_name(&scope.group) || !core.policy().has_group(&scope.group) {
        return Err(ExtendError::UnknownGroup(crate::display::strip(
            &scope.group,
            64,
        )));
    }
    if let Some(task) = &scope.task {
        let plain = crate::display::strip(task, MAX_TASK_CHARS + 1);
        if task.is_empty() || plain != *task || task.chars().count() > MAX_TASK_CHARS {
            return Err(ExtendError::BadTask);
        }
    }
    if tokens == 0 || tokens > MAX_EXTEND_TOKENS {
        return Err(ExtendError::BadAmount);
    }
    let config = core.config();
    let base = config.model.caps().cap(scope);
    if base == 0 {
        return Err(ExtendError::NotCapped(scope.to_string()));
    }
    let extended = core
        .model_ledger
        .extend(scope, tokens, &actor.by, actor.plugin.as_deref())
        .map_err(ExtendError::NotWritten)?;
    let used = core
        .model_ledger
        .today()
        .into_iter()
        .find(|day| day.scope == *scope)
        .map_or(0, |day| day.used.total());
    let done = Extended {
        scope: scope.clone(),
        tokens,
        cap: base.saturating_add(extended),
        used,
    };
    let fields = json!({"group": scope.group, "task": scope.task, "tokens": tokens,
                        "cap": done.cap, "used": used, "by": actor.by, "plugin": actor.plugin});
    core.audit_core("budget.extended", fields.clone());
    core.publish("budget.extended", fields);
    Ok(done)
}

/// Publishes and audits each cap the proxies report reached, until the core stops.
pub async fn publish_alerts(core: Arc<Core>, mut alerts: tokio::sync::mpsc::Receiver<Exhausted>) {
    while let Some(exhausted) = alerts.recv().await {
        let payload = exhausted.payload();
        tracing::warn!(
            group = %exhausted.scope.group,
            task = exhausted.scope.task.as_deref().unwrap_or(""),
            used = exhausted.used,
            cap = exhausted.cap,
            "daily token cap reached"
        );
        core.audit_core("budget.exhausted", payload.clone());
        core.publish("budget.exhausted", payload);
    }
}

/// Today's use of each group and task with its cap in force (0 = none), as
/// `carapace budget` and `status` show it.
pub fn report(caps: crate::model_proxy::budget::CapTable<'_>, days: Vec<ScopeDay>) -> Value {
    let rows: Vec<Value> = days
        .into_iter()
        .map(|day| {
            let base = caps.cap(&day.scope);
            let cap = if base == 0 {
                0
            } else {
                base.saturating_add(day.extended)
            };
            json!({"group": day.scope.group, "task": day.scope.task,
                   "used": day.used.total(), "usage": day.used, "reserved": day.reserved,
                   "extended": day.extended, "cap": cap})
        })
        .collect();
    json!({"day": crate::model_proxy::usage::utc_today().to_string(), "scopes": rows})
}
