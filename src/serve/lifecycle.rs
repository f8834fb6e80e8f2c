//! Opening, closing and restoring sessions: the directory, the socket, the table entry.
//!
//! A session's record lives in the core's private state (`state/sessions/<id>.json`,
//! [`crate::session::record`]), never in its directory, which is mounted into a container: a
//! core restarted after a crash rebinds the same sockets for the groups it recorded, and
//! nothing in the directory is read back.

use std::sync::Arc;

use serde_json::json;

use crate::config::valid_group_name;
use crate::core::Core;
use crate::paths::create_private_dir;
use crate::session::record::{self, Record};
use crate::session::{new_session_id, Origin, Session, SessionSummary};

/// Why a session could not be opened or closed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The group is not in the configuration.
    #[error("group `{0}` is not configured; add [groups.{0}] to config.toml")]
    UnknownGroup(String),
    /// The group is paused (the kill switch): no session starts until it is resumed.
    #[error("group `{0}` is paused (GROUP_PAUSED): no session starts until `carapace resume {0}`")]
    GroupPaused(String),
    /// Too many sessions.
    #[error("{0} sessions are open, the configured maximum")]
    TooMany(usize),
    /// No such session.
    #[error("no session `{0}`")]
    NoSuchSession(String),
    /// The socket could not be bound.
    #[error(transparent)]
    Bind(#[from] carapace_zmtp::server::socket::BindError),
    /// The session directory could not be made.
    #[error("cannot prepare {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Opens a session for `group` that `origin` started: a fresh directory and a bound socket.
pub async fn open(
    core: &Core,
    group: &str,
    origin: Origin,
) -> Result<SessionSummary, SessionError> {
    open_with(core, group, origin, false).await
}

/// Opens a session an agent container will serve; a restarted core does not
/// restore it but removes its container ([`restore`] reports it as an orphan).
pub async fn open_for_agent(
    core: &Core,
    group: &str,
    origin: Origin,
) -> Result<SessionSummary, SessionError> {
    open_with(core, group, origin, true).await
}

async fn open_with(
    core: &Core,
    group: &str,
    origin: Origin,
    agent: bool,
) -> Result<SessionSummary, SessionError> {
    if !valid_group_name(group) || !core.policy().has_group(group) {
        return Err(SessionError::UnknownGroup(
            group.chars().take(64).filter(|c| !c.is_control()).collect(),
        ));
    }
    if core.paused.is_paused(group) {
        return Err(SessionError::GroupPaused(group.to_owned()));
    }
    let max = core.config().core.max_sessions;
    if core.sessions.len() >= max {
        return Err(SessionError::TooMany(max));
    }
    let id = new_session_id();
    let record = Record {
        id: id.clone(),
        group: group.to_owned(),
        started_at: crate::time::now_rfc3339(),
        agent,
        origin,
    };
    let session = activate(core, record).await?;
    // A pause that came while the session was being set up swept the table
    // before this session was in it: it must not outlive the pause either.
    if core.paused.is_paused(group) {
        let _ = close(core, &session.id).await;
        return Err(SessionError::GroupPaused(group.to_owned()));
    }
    core.audit(
        &session,
        "session.opened",
        json!({"origin": session.origin}),
    );
    Ok(session.summary())
}

async fn activate(core: &Core, record: Record) -> Result<Arc<Session>, SessionError> {
    let dir = core.home.session_dir(&record.id);
    let dir_err = |source| SessionError::Dir {
        path: dir.display().to_string(),
        source,
    };
    create_private_dir(&dir).map_err(dir_err)?;
    record::write(&core.home, &record).map_err(|source| SessionError::Dir {
        path: core.home.session_record(&record.id).display().to_string(),
        source,
    })?;
    let socket = core.home.session_socket(&record.id);
    if let Err(e) = core.sockets.bind(&record.id, &socket).await {
        record::remove(&core.home, &record.id);
        return Err(e.into());
    }
    // Rootful engines run the agent as runtime.agent_gid: let that group alone reach the socket.
    let agent_gid = core.config().runtime.agent_gid;
    if let Err(e) = crate::runtime::access::share_with_agent(&dir, &[socket.as_path()], agent_gid) {
        core.sockets.unbind(&record.id).await;
        record::remove(&core.home, &record.id);
        return Err(dir_err(e));
    }
    let session = Arc::new(Session::new(
        record.id,
        record.group,
        record.started_at,
        socket,
        record.origin,
    ));
    core.sessions.insert(Arc::clone(&session));
    Ok(session)
}

/// Closes a session: the socket goes, its directory is removed, pending calls are denied.
pub async fn close(core: &Core, id: &str) -> Result<(), SessionError> {
    let session = core
        .sessions
        .remove(id)
        .ok_or_else(|| SessionError::NoSuchSession(id.chars().take(64).collect()))?;
    core.sockets.unbind(&session.id).await;
    core.rate_limiter.forget_session(&session.id);
    core.confirmations.forget_session(&session.id);
    let _ = std::fs::remove_dir_all(core.home.session_dir(&session.id));
    let _ = std::fs::remove_dir_all(core.home.overlay_dir(&session.id));
    record::remove(&core.home, &session.id);
    core.summarize_refusals(&session, true);
    core.audit(&session, "session.closed", json!({}));
    Ok(())
}

/// What [`restore`] found.
#[derive(Debug, Default)]
pub struct Restored {
    /// Sessions rebound.
    pub sessions: usize,
    /// Agent sessions whose container a previous core left behind (their
    /// directories are removed; the caller removes the containers).
    pub orphans: Vec<String>,
}

/// Rebinds the sessions a previous core left behind, each from its own record; drops
/// those that no longer fit, and every record left without a directory.
pub async fn restore(core: &Core) -> Restored {
    let mut restored = Restored::default();
    // Overlays belong to agent sessions, which are never restored.
    if let Ok(overlays) = std::fs::read_dir(core.home.overlays_dir()) {
        for overlay in overlays.filter_map(Result::ok) {
            let _ = std::fs::remove_dir_all(overlay.path());
        }
    }
    let entries = std::fs::read_dir(core.home.sessions_dir())
        .map(|e| e.filter_map(Result::ok).collect::<Vec<_>>())
        .unwrap_or_default();
    for entry in entries {
        let dir = entry.path();
        let Some(id) = entry
            .file_name()
            .to_str()
            .filter(|n| record::valid_session_id(n))
            .map(str::to_owned)
        else {
            tracing::info!(dir = %dir.display(), "removing a stale session directory");
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        };
        let record = match record::read(&core.home, &id) {
            // An agent session's record goes on below: its container is an orphan to remove.
            Ok(record) if !record.agent && core.paused.is_paused(&record.group) => {
                let why = format!("group `{}` is paused", record.group);
                refuse_restore(core, &id, &why);
                continue;
            }
            Ok(record) if core.policy().has_group(&record.group) => record,
            Ok(record) => {
                let why = format!("group `{}` is no longer configured", record.group);
                refuse_restore(core, &id, &why);
                continue;
            }
            Err(why) => {
                refuse_restore(core, &id, &why.to_string());
                continue;
            }
        };
        if record.agent {
            tracing::info!(session = %record.id, "an agent session outlived its core; removing it");
            let _ = std::fs::remove_dir_all(&dir);
            record::remove(&core.home, &record.id);
            restored.orphans.push(record.id);
            continue;
        }
        // What an older core left in the mounted directory is never read; drop it.
        let _ = std::fs::remove_file(dir.join("session.json"));
        let group = record.group.clone();
        match activate(core, record).await {
            // A pause that landed while it was restored swept the table before it.
            Ok(session) if core.paused.is_paused(&group) => {
                let _ = close(core, &session.id).await;
                refuse_restore(core, &id, &format!("group `{group}` is paused"));
            }
            Ok(session) => {
                core.audit(
                    &session,
                    "session.restored",
                    json!({"origin": session.origin}),
                );
                restored.sessions += 1;
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot restore a session");
                let _ = std::fs::remove_dir_all(&dir);
                record::remove(&core.home, &id);
            }
        }
    }
    for id in record::ids(&core.home) {
        if core.sessions.get(&id).is_none() {
            tracing::info!(session = %id, "removing the record of a session without a directory");
            record::remove(&core.home, &id);
        }
    }
    restored
}

/// A session whose record is missing, unsafe, corrupt or mismatched is not restored:
/// its directory and record go, with a log line and an audit line.
fn refuse_restore(core: &Core, id: &str, why: &str) {
    tracing::warn!(session = %id, reason = %why, "not restoring a session");
    let _ = std::fs::remove_dir_all(core.home.session_dir(id));
    record::remove(&core.home, id);
    core.audit_core(
        "session.restore_refused",
        json!({"session": id, "reason": why}),
    );
}
