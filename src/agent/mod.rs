//! Agent sessions: one prompt, one session, one container, one answer.
//!
//! [`spawn`] opens a session, optionally serves the model proxy on its
//! `model.sock`, starts the configured agent ([`AgentConfig`]) in a hardened
//! container, records its stream-json output as a transcript under
//! `data/agent/<group>/`, publishes and audits `agent.started`,
//! `agent.completed` or `agent.error`, and closes the session on every path.

pub mod config;
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
    self, MemoryLedger, ModelProxy, ProxyError, SessionIdentity, SessionProxy, StoreCredentials,
};
use crate::runtime::RuntimeError;
use crate::session::lifecycle::{self, SessionError};
use crate::session::SessionSummary;
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

/// Runs one agent session for `group` with `prompt`, to its end.
pub async fn spawn(core: &Arc<Core>, group: &str, prompt: &str) -> Result<AgentRun, AgentError> {
    let agent = core.config().agent.clone();
    agent.check().map_err(AgentError::Config)?;
    let session = lifecycle::open(core, group).await?;
    let outcome = run_session(core, &session, &agent, prompt).await;
    report(core, &session, &outcome);
    if let Err(e) = lifecycle::close(core, &session.id).await {
        tracing::warn!(session = %session.id, error = %e, "cannot close the agent session");
    }
    outcome
}

async fn run_session(
    core: &Arc<Core>,
    session: &SessionSummary,
    agent: &AgentConfig,
    prompt: &str,
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
    let spec = spec::build(
        &config.runtime,
        &socket_dir,
        session,
        agent,
        prompt,
        image,
        proxy.is_some(),
    );
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
        json!({"container": spec.name}),
    );
    let ended = run::drive(&mut running, &mut transcript, agent.idle_timeout()).await;
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
            answer: finish.answer,
            exit_code: 0,
            transcript: path,
        }),
        (finish, exit_code) => Err(AgentError::Failed {
            exit_code,
            detail: match finish {
                Some(f) if f.is_error => format!("the agent reported an error: {}", f.answer),
                Some(_) => format!("exited with a failure; stderr: {}", ended.stderr_tail),
                None => format!("no result line; stderr: {}", ended.stderr_tail),
            },
        }),
    }
}

/// Serves the model proxy on the session's `model.sock`, reachable by the agent's gid.
async fn serve_proxy(core: &Core, session: &SessionSummary) -> Result<SessionProxy, AgentError> {
    let config = core.config();
    let proxy = ModelProxy::new(
        &config.model,
        Arc::new(StoreCredentials::new(core.home.clone())),
        Arc::new(MemoryLedger::new()),
    )?;
    let socket = model_proxy::session_socket(&core.home, &session.id);
    let identity = SessionIdentity {
        session_id: session.id.clone(),
        group: session.group.clone(),
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

/// Publishes and audits `agent.completed` or `agent.error` for a finished run.
fn report(core: &Core, session: &SessionSummary, outcome: &Result<AgentRun, AgentError>) {
    match outcome {
        Ok(run) => {
            let audited = json!({"exit_code": run.exit_code, "answer_bytes": run.answer.len(),
                                 "transcript": run.transcript});
            let published = json!({"exit_code": run.exit_code, "answer": run.answer});
            announce_split(core, session, "agent.completed", audited, published);
        }
        Err(e) => announce(
            core,
            session,
            "agent.error",
            json!({"error": e.to_string()}),
        ),
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
