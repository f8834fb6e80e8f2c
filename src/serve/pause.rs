//! The kill switch at work: pausing a group stops everything it runs, resuming
//! lets it start again. Asked by `carapace pause|resume GROUP` (the control
//! socket) or by a plugin with the `kill_switch` capability (`group/pause`,
//! `group/resume`).
//!
//! Pausing, in this order: the pause is put in force (and written to
//! `state/paused.json`), so nothing new starts; `group.paused` is audited and
//! published (subscribers such as a scheduler pause their own work; its
//! `generation`, like `group.resumed`'s, orders the two whatever order they
//! arrive in: `PausedGroups::state`); the
//! group's pending confirmations are denied; then each of its sessions is
//! stopped as `carapace stop-session` stops it (an agent's container removed,
//! a session without one closed). Sessions still opening re-check the pause
//! once they are in the table (`lifecycle`), so none slips past the sweep.
//! Must never resume silently, nor leave a session of a paused group running.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use crate::config::valid_group_name;
use crate::core::Core;
use crate::policy::{Pause, PausedGroups};
use crate::serve::lifecycle;
use crate::session::OriginKind;

/// Who asks for a pause or a resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `cli`, or the user a plugin names (already plain and cut).
    pub by: String,
    /// The plugin that asked, if one did.
    pub plugin: Option<String>,
}

impl Actor {
    /// The person at the host's CLI.
    pub fn cli() -> Actor {
        Actor {
            by: "cli".into(),
            plugin: None,
        }
    }
}

/// Why a pause or a resume was refused.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    /// Not a configured group (pause), or not a group name at all.
    #[error("group `{0}` is not configured")]
    UnknownGroup(String),
    /// The resume could not be written; the group stays paused.
    #[error("the group stays paused: {0}")]
    NotWritten(crate::policy::paused::PausedError),
}

/// What a pause did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PauseReport {
    /// The group.
    pub group: String,
    /// False if it was paused already (the sweep ran again all the same).
    pub newly: bool,
    /// False if `state/paused.json` could not be written: the pause holds
    /// until the core stops, not after.
    pub persisted: bool,
    /// Pending confirmations denied.
    pub denied: Vec<String>,
    /// Agent sessions stopped (their containers removed).
    pub stopped: Vec<String>,
    /// Sessions without a container closed.
    pub closed: Vec<String>,
    /// Sessions that could not be stopped, with why.
    pub failed: Vec<String>,
}

/// Pauses `group` for `actor` and stops everything it runs.
pub async fn pause(
    core: &Arc<Core>,
    group: &str,
    actor: &Actor,
) -> Result<PauseReport, PauseError> {
    if !valid_group_name(group) || !core.policy().has_group(group) {
        return Err(PauseError::UnknownGroup(shown(group)));
    }
    let paused = core.paused.pause(
        group,
        Pause {
            by: actor.by.clone(),
            plugin: actor.plugin.clone(),
            at: crate::time::now_rfc3339(),
        },
    );
    if let Err(e) = &paused.saved {
        tracing::error!(%group, error = %e, "the pause is in force but not written: it will not outlive a restart");
    }
    let mut report = PauseReport {
        group: group.to_owned(),
        newly: paused.newly,
        persisted: paused.saved.is_ok(),
        denied: Vec::new(),
        stopped: Vec::new(),
        closed: Vec::new(),
        failed: Vec::new(),
    };
    // A repeated pause (a plugin may send many) adds a line only if it swept something.
    if paused.newly {
        core.audit_core(
            "group.paused",
            json!({"group": group, "by": actor.by, "plugin": actor.plugin,
                   "persisted": report.persisted}),
        );
        core.publish(
            "group.paused",
            json!({"group": group, "by": actor.by, "plugin": actor.plugin,
                   "generation": paused.generation}),
        );
    }
    report.denied = core
        .confirmations
        .deny_group(group, &actor.by, actor.plugin.as_deref())
        .into_iter()
        .map(|denied| {
            core.audit_core(
                "confirmation.decided",
                json!({"confirmation": denied.id, "tool": denied.tool, "session": denied.session,
                       "group": denied.group, "approved": false, "decision": "deny",
                       "by": actor.by, "plugin": actor.plugin, "reason": "group paused"}),
            );
            denied.id
        })
        .collect();
    for session in core.sessions.all().iter().filter(|s| s.group == group) {
        let id = session.id.clone();
        if core.agents.get(&id).is_some() {
            match crate::agent::stop(core, &id).await {
                Ok(_) => report.stopped.push(id),
                Err(e) => report.failed.push(format!("{id}: {e}")),
            }
        } else if session.origin.kind == OriginKind::Open {
            match lifecycle::close(core, &id).await {
                Ok(()) => report.closed.push(id),
                // Closed meanwhile by someone else: nothing left to do.
                Err(lifecycle::SessionError::NoSuchSession(_)) => {}
                Err(e) => report.failed.push(format!("{id}: {e}")),
            }
        } else {
            // An agent session between its opening and its container's start:
            // it checks this mark before it starts the container.
            core.agents.mark_stopped(&id);
            report.stopped.push(id);
        }
    }
    let swept = !(report.denied.is_empty()
        && report.stopped.is_empty()
        && report.closed.is_empty()
        && report.failed.is_empty());
    if swept {
        core.audit_core(
            "group.pause_swept",
            json!({"group": group, "by": actor.by, "plugin": actor.plugin,
                   "denied": report.denied, "stopped": report.stopped,
                   "closed": report.closed, "failed": report.failed}),
        );
    }
    Ok(report)
}

/// Resumes `group` for `actor` once that is written; `Ok(None)` if it was not paused.
pub fn resume(core: &Core, group: &str, actor: &Actor) -> Result<Option<Pause>, PauseError> {
    if !valid_group_name(group) {
        return Err(PauseError::UnknownGroup(shown(group)));
    }
    let was = core
        .paused
        .resume_counted(group)
        .map_err(PauseError::NotWritten)?;
    // Resuming a group that is not paused changes nothing and adds no line.
    if let Some((_, generation)) = &was {
        core.audit_core(
            "group.resumed",
            json!({"group": group, "by": actor.by, "plugin": actor.plugin}),
        );
        core.publish(
            "group.resumed",
            json!({"group": group, "by": actor.by, "plugin": actor.plugin,
                   "generation": generation}),
        );
    }
    Ok(was.map(|(pause, _)| pause))
}

/// The paused groups as `status` shows them.
pub fn status(paused: &PausedGroups) -> serde_json::Value {
    json!(paused
        .all()
        .into_iter()
        .map(|(group, pause)| json!({"group": group, "by": pause.by, "plugin": pause.plugin, "at": pause.at}))
        .collect::<Vec<_>>())
}

/// A group name that came from outside, as an error may show it.
fn shown(group: &str) -> String {
    crate::display::strip(group, 64)
}
