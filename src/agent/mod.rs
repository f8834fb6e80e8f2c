//! Agent sessions: one prompt, one session, one container, one answer.
//!
//! [`spawn`] waits for a turn of its group ([`registry`]), opens a session,
//! optionally serves the model proxy on its `model.sock`, starts the
//! configured agent ([`AgentConfig`]) in a hardened container with its
//! workspace, state and managed overlay ([`mounts`]), records its stream-json
//! output as a transcript under `state/agent/<group>/`, publishes and audits
//! `agent.started`, `agent.completed` or `agent.error` (with the event that
//! asked for it, so a channel plugin can deliver the answer), and closes the
//! session on every path. [`events`] starts sessions from the bus.

pub mod config;
pub mod events;
pub mod fires;
pub mod mounts;
pub mod run;
pub mod spec;
pub mod stream;
pub mod transcript;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

pub use config::AgentConfig;

use crate::core::Core;
use crate::model_proxy::{
    self, ModelProxy, ProxyError, SessionIdentity, SessionProxy, StoreCredentials,
};
use crate::runtime::RuntimeError;
use crate::serve::lifecycle::{self, SessionError};
use crate::session::agents::{QueueError, RunningAgent};
use crate::session::{Origin, SessionSummary};
use transcript::Transcript;

/// Why an agent run failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// `[agent]` is not usable.
    #[error("{0}")]
    Config(String),
    /// Neither `runtime.image` nor `runtime.rootfs` is set.
    #[error("no agent image: set runtime.image (pinned by digest) in config.toml")]
    NoImage,
    /// No turn could be had.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The session's mounts could not be prepared.
    #[error("cannot prepare the agent's mounts: {0}")]
    Mounts(std::io::Error),
    /// `carapace stop-session` ended it.
    #[error("the session was stopped")]
    Stopped,
    /// The session could not be opened.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The container engine failed or refused.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model proxy could not start.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The transcript could not be written.
    #[error("cannot write the transcript {path}: {source}")]
    Transcript {
        /// The transcript file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The agent's output could not be read.
    #[error("reading the agent's output failed: {0}")]
    Output(std::io::Error),
    /// The agent was silent too long; its container was killed.
    #[error(
        "the agent printed nothing for {0} s (agent.idle_timeout_secs); its container was killed"
    )]
    IdleTimeout(u64),
    /// The agent ended without a successful result.
    #[error("the agent failed (exit code {}): {detail}", exit_code.map_or("none".to_owned(), |c| c.to_string()))]
    Failed {
        /// The container's exit code.
        exit_code: Option<i32>,
        /// What it said.
        detail: String,
    },
}

/// A finished, successful agent run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRun {
    /// The session it ran in (closed now).
    pub session: String,
    /// The group it acted for.
    pub group: String,
    /// The final answer (the `result` object's `result`).
    pub answer: String,
    /// The container's exit code.
    pub exit_code: i32,
    /// The raw transcript.
    pub transcript: PathBuf,
}

/// Longest wait for the memory brief (DESIGN.md: 5 s).
pub const MEMORY_BRIEF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs one agent session for `group` with `prompt`, to its end, once the group
/// has a turn. `origin` is what started it (the session keeps it; every
/// envelope carries it); `asked_by` (the event that asked, if any) rides along
/// as `origin` on `agent.completed`/`agent.error` so that its channel can
/// deliver the answer, with the session's own as `session_origin`; `progress`
/// receives the model's text and tool calls as they come.
pub async fn spawn(
    core: &Arc<Core>,
    group: &str,
    prompt: &str,
    origin: Origin,
    asked_by: Option<Value>,
    progress: Option<run::Progress>,
) -> Result<AgentRun, AgentError> {
    if core.paused.is_paused(group) {
        return Err(SessionError::GroupPaused(group.to_owned()).into());
    }
    let agent = core.config().agent.clone();
    agent.check().map_err(AgentError::Config)?;
    if !core.policy().has_group(group) {
        return Err(SessionError::UnknownGroup(group.chars().take(64).collect()).into());
    }
    let _turn = core
        .agents
        .turn(group, agent.max_concurrent_per_group, agent.max_queued)
        .await?;
    let session = lifecycle::open_for_agent(core, group, origin).await?;
    let stop = core.agents.started(RunningAgent {
        session: session.id.clone(),
        group: session.group.clone(),
        container: crate::runtime::spec::container_name(&session.id),
    });
    let outcome = run_session(core, &session, &agent, prompt, progress.as_ref(), &stop).await;
    let outcome = match outcome {
        Err(_) if core.agents.take_stopped(&session.id) => Err(AgentError::Stopped),
        other => other,
    };
    core.agents.ended(&session.id);
    report(core, &session, &outcome, asked_by);
    if let Err(e) = lifecycle::close(core, &session.id).await {
        tracing::warn!(session = %session.id, error = %e, "cannot close the agent session");
    }
    outcome
}

/// Removes the containers of agent sessions a previous core left behind.
pub async fn remove_orphans(core: Arc<Core>, sessions: Vec<String>) {
    let runtime = match crate::runtime::select(&core.config().runtime).await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(error = %e, "cannot remove orphaned agent containers: no engine");
            return;
        }
    };
    for session in sessions {
        let container = crate::runtime::spec::container_name(&session);
        let removed = runtime.remove(&container).await;
        if let Err(e) = &removed {
            tracing::warn!(%container, error = %e, "cannot remove an orphaned container");
        }
        core.audit_core(
            "agent.orphan_removed",
            json!({"session": session, "container": container, "ok": removed.is_ok()}),
        );
    }
}

/// Stops the agent of `session` (its container is removed; the session then ends).
pub async fn stop(core: &Core, session: &str) -> Result<bool, AgentError> {
    let Some(agent) = core.agents.get(session) else {
        return Ok(false);
    };
    core.agents.mark_stopped(session);
    let runtime = crate::runtime::select(&core.config().runtime).await?;
    runtime.remove(&agent.container).await?;
    core.audit_core(
        "agent.stop_requested",
        json!({"session": agent.session, "group": agent.group, "container": agent.container}),
    );
    Ok(true)
}

async fn run_session(
    core: &Arc<Core>,
    session: &SessionSummary,
    agent: &AgentConfig,
    prompt: &str,
    progress: Option<&run::Progress>,
    stop: &tokio::sync::Notify,
) -> Result<AgentRun, AgentError> {
    let config = core.config();
    let runtime = crate::runtime::select(&config.runtime).await?;
    let image = spec::image(core, runtime.as_ref()).await?;
    let proxy = if agent.model_proxy {
        Some(serve_proxy(core, session).await?)
    } else {
        None
    };
    let socket_dir = core.home.session_dir(&session.id);
    let brief = memory_brief(core, session).await;
    let spec = spec::build(
        &config,
        &socket_dir,
        session,
        agent,
        prompt,
        image,
        proxy.is_some(),
    );
    let spec = mounts::add_mounts(
        spec,
        &core.home,
        &core.home.overlay_dir(&session.id),
        &core.home.skills_dir(),
        brief.as_deref(),
    )
    .map_err(AgentError::Mounts)?;
    // A stop asked for while the engine, the image and the proxy were being prepared
    // had no container to remove: honour it here, before there is one.
    if core.agents.is_stopped(&session.id) {
        if let Some(proxy) = proxy {
            proxy.shutdown().await;
        }
        return Err(AgentError::Stopped);
    }
    let mut transcript =
        Transcript::create(&core.home, &session.group, &session.id).map_err(|source| {
            AgentError::Transcript {
                path: transcript::group_dir(&core.home, &session.group)
                    .display()
                    .to_string(),
                source,
            }
        })?;
    let mut running = runtime.run(&spec)?;
    announce(
        core,
        session,
        "agent.started",
        json!({"container": spec.name, "origin": session.origin}),
    );
    let in_flight = || {
        core.sessions
            .get(&session.id)
            .is_some_and(|s| s.has_calls_in_flight())
    };
    let busy = run::Busy {
        busy: &in_flight,
        at_most: agent.idle_timeout() + config.core.longest_call(),
    };
    let ended = run::drive(
        &mut running,
        &mut transcript,
        agent.idle_timeout(),
        busy,
        progress,
        stop,
    )
    .await;
    if let Some(proxy) = proxy {
        proxy.shutdown().await;
    }
    let path = transcript.path().to_owned();
    if let Err(e) = transcript.finish().await {
        tracing::warn!(path = %path.display(), error = %e, "cannot flush the transcript");
    }
    let ended = ended?;
    match (ended.tally.finish, ended.exit_code) {
        (Some(finish), Some(0)) if !finish.is_error => Ok(AgentRun {
            session: session.id.clone(),
            group: session.group.clone(),
            answer: core.sanitizer.redact_str(&finish.answer).0.into_owned(),
            exit_code: 0,
            transcript: path,
        }),
        (finish, exit_code) => Err(AgentError::Failed {
            exit_code,
            // The container's words go to the audit log and the event bus: redacted.
            detail: core
                .sanitizer
                .redact_str(&match finish {
                    Some(f) if f.is_error => format!("the agent reported an error: {}", f.answer),
                    Some(_) => format!("exited with a failure; stderr: {}", ended.stderr_tail),
                    None => format!("no result line; stderr: {}", ended.stderr_tail),
                })
                .0
                .into_owned(),
        }),
    }
}

/// Serves the model proxy on the session's `model.sock`, reachable by the agent's gid.
async fn serve_proxy(core: &Core, session: &SessionSummary) -> Result<SessionProxy, AgentError> {
    let config = core.config();
    let mut proxy = ModelProxy::new(
        &config.model,
        Arc::new(StoreCredentials::new(core.home.clone())),
        Arc::clone(&core.model_ledger),
    )?;
    if let Some(alerts) = &core.budget_alerts {
        proxy = proxy.with_alerts(alerts.clone());
    }
    let socket = model_proxy::session_socket(&core.home, &session.id);
    // A task session is charged to its task too (the scheduler's task id).
    let task = match session.origin.kind {
        crate::session::origin::OriginKind::Task => session.origin.sender.clone(),
        _ => None,
    };
    let identity = SessionIdentity {
        session_id: session.id.clone(),
        group: session.group.clone(),
        task,
    };
    let running = proxy.serve(&socket, identity).await?;
    let dir = core.home.session_dir(&session.id);
    crate::runtime::access::share_with_agent(&dir, &[socket.as_path()], config.runtime.agent_gid)
        .map_err(|source| ProxyError::Socket {
        path: socket.display().to_string(),
        source,
    })?;
    Ok(running)
}

/// The memory brief for `group`, sanitized, from the plugin chosen to provide it.
async fn memory_brief(core: &Core, session: &SessionSummary) -> Option<String> {
    let group = session.group.as_str();
    let chosen = core.config().agent.memory_brief.clone();
    let (plugin, markdown) = core
        .plugins()
        .memory_brief(
            chosen.as_deref(),
            group,
            &session.id,
            &session.origin,
            MEMORY_BRIEF_DEADLINE,
        )
        .await?;
    let (clean, redacted) = core.sanitizer.redact_str(&markdown);
    core.audit_core(
        "agent.memory_brief",
        json!({"plugin": plugin, "group": group, "bytes": clean.len(), "redactions": redacted.len()}),
    );
    Some(clean.into_owned())
}

/// Publishes and audits `agent.completed` or `agent.error` for a finished run;
/// what is published carries the event that asked (`origin`) and the session's
/// own origin (`session_origin`).
fn report(
    core: &Core,
    session: &SessionSummary,
    outcome: &Result<AgentRun, AgentError>,
    asked_by: Option<Value>,
) {
    let with_origin = |mut published: Value| {
        if let Value::Object(map) = &mut published {
            if let Some(event) = &asked_by {
                map.insert("origin".into(), event.clone());
            }
            map.insert("session_origin".into(), json!(session.origin));
        }
        published
    };
    match outcome {
        Ok(run) => {
            let audited = json!({"exit_code": run.exit_code, "answer_bytes": run.answer.len(),
                                 "transcript": run.transcript});
            let published = json!({"exit_code": run.exit_code, "answer": run.answer});
            announce_split(
                core,
                session,
                "agent.completed",
                audited,
                with_origin(published),
            );
        }
        Err(e) => {
            // An engine's or a container's words may be in it: redacted before audit and bus.
            let fields = json!({"error": core.sanitizer.redact_str(&e.to_string()).0});
            announce_split(
                core,
                session,
                "agent.error",
                fields.clone(),
                with_origin(fields),
            );
        }
    }
}

fn announce(core: &Core, session: &SessionSummary, topic: &str, fields: Value) {
    announce_split(core, session, topic, fields.clone(), fields);
}

/// Audits `audited` and publishes `published`, each with the session and group.
fn announce_split(
    core: &Core,
    session: &SessionSummary,
    topic: &str,
    audited: Value,
    mut published: Value,
) {
    if let Some(open) = core.sessions.get(&session.id) {
        core.audit(&open, topic, audited);
    }
    if let Value::Object(map) = &mut published {
        map.insert("session".into(), json!(session.id));
        map.insert("group".into(), json!(session.group));
    }
    core.publish(topic, published);
}
