//! The core side of the control socket.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use super::{ControlRequest, ControlResponse, MAX_REQUEST_BYTES};
use crate::core::Core;
use crate::policy::{Decision, Resolution};
use crate::serve::{lifecycle, pause};
use crate::session::Origin;

/// Binds `run/control.sock` with mode 0600, replacing a stale file.
pub fn bind(core: &Core) -> std::io::Result<UnixListener> {
    let path = core.home.control_socket();
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves CLI requests until the process stops; `stop` is notified on a stop request.
pub async fn serve(listener: UnixListener, core: Arc<Core>, stop: Arc<Notify>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if !peer_is_owner(&stream) {
            continue;
        }
        let core = Arc::clone(&core);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            if let Err(e) = converse(stream, &core, &stop).await {
                tracing::debug!(error = %e, "control connection ended");
            }
        });
    }
}

/// The peer must be this user (or root) and must not have no-new-privs set: every
/// Landlock-confined plugin handler has it (defence in depth behind the handler's mount
/// namespace, which already hides this socket). Logs why a peer is refused.
fn peer_is_owner(stream: &UnixStream) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    let Ok(cred) = stream.peer_cred() else {
        tracing::warn!("control socket: refused a peer without credentials");
        return false;
    };
    if cred.uid() != me && cred.uid() != 0 {
        tracing::warn!(
            uid = cred.uid(),
            "control socket: refused a peer of another user"
        );
        return false;
    }
    let Some(pid) = cred.pid().filter(|pid| *pid > 0) else {
        tracing::warn!("control socket: refused a peer whose pid is unknown");
        return false;
    };
    match no_new_privs(pid) {
        Some(false) => true,
        Some(true) => {
            tracing::warn!(
                pid,
                "control socket: refused a peer with no_new_privs set (a confined plugin handler?)"
            );
            false
        }
        None => {
            tracing::warn!(
                pid,
                "control socket: refused a peer whose /proc status is unreadable"
            );
            false
        }
    }
}

/// `NoNewPrivs` of `/proc/<pid>/status`, or `None` if unreadable.
fn no_new_privs(pid: i32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("NoNewPrivs:"))
        .map(|value| value.trim() != "0")
}

async fn converse(stream: UnixStream, core: &Arc<Core>, stop: &Notify) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    BufReader::new(read.take(MAX_REQUEST_BYTES as u64 + 1))
        .read_until(b'\n', &mut line)
        .await?;
    let response = if line.len() > MAX_REQUEST_BYTES {
        ControlResponse::fail("request too large")
    } else {
        match serde_json::from_slice::<ControlRequest>(&line) {
            Ok(ControlRequest::Prompt { group, text }) => {
                prompt(core, &group, &text, &mut write).await?
            }
            Ok(request) => handle(request, core, stop).await,
            Err(e) => ControlResponse::fail(format!("bad request: {e}")),
        }
    };
    write_line(&mut write, &response).await?;
    write.shutdown().await
}

async fn write_line(
    write: &mut (impl AsyncWriteExt + Unpin),
    response: &ControlResponse,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(response)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

/// Runs an agent session, streaming its progress to the CLI as it comes. A CLI
/// that goes away does not stop the session: it runs to its end regardless.
async fn prompt(
    core: &Arc<Core>,
    group: &str,
    text: &str,
    write: &mut (impl AsyncWriteExt + Unpin),
) -> std::io::Result<ControlResponse> {
    let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let run = {
        let (core, group, text) = (Arc::clone(core), group.to_owned(), text.to_owned());
        tokio::spawn(async move {
            let origin = Origin::prompt();
            crate::agent::spawn(&core, &group, &text, origin, None, Some(progress)).await
        })
    };
    let mut listening = true;
    while let Some(update) = updates.recv().await {
        if listening
            && write_line(write, &ControlResponse::progress(update))
                .await
                .is_err()
        {
            listening = false;
        }
    }
    let response = match run.await {
        Ok(Ok(run)) => ControlResponse::ok(
            json!({"session": run.session, "answer": run.answer, "exit_code": run.exit_code}),
        ),
        Ok(Err(e)) => ControlResponse::fail(e.to_string()),
        Err(e) => ControlResponse::fail(format!("the agent session failed: {e}")),
    };
    Ok(response)
}

async fn handle(request: ControlRequest, core: &Arc<Core>, stop: &Notify) -> ControlResponse {
    match request {
        ControlRequest::Reload { plugin } => {
            match crate::assemble::reload(core, plugin.as_deref()).await {
                Ok(summary) => {
                    crate::memory::return_free_memory();
                    ControlResponse::ok(summary)
                }
                Err(problem) => {
                    ControlResponse::fail(format!("reload refused, nothing changed: {problem}"))
                }
            }
        }
        ControlRequest::Status => ControlResponse::ok(status(core)),
        ControlRequest::SecretsChanged => {
            let loaded = crate::secret_values::refresh(&core.home);
            ControlResponse::ok(json!({"values": loaded.values, "skipped": loaded.skipped}))
        }
        ControlRequest::Stop => {
            stop.notify_one();
            ControlResponse::ok(json!({"stopping": true}))
        }
        ControlRequest::SessionOpen { group, trust } => {
            match lifecycle::open(core, &group, Origin::open(trust)).await {
                Ok(summary) => ControlResponse::ok(json!(summary)),
                Err(e) => ControlResponse::fail(e.to_string()),
            }
        }
        ControlRequest::SessionClose { id } => match lifecycle::close(core, &id).await {
            Ok(()) => ControlResponse::ok(json!({"closed": id})),
            Err(e) => ControlResponse::fail(e.to_string()),
        },
        ControlRequest::Sessions => {
            let all: Vec<Value> = core
                .sessions
                .all()
                .iter()
                .map(|s| {
                    let mut shown = json!(s.summary());
                    if let (Some(agent), Value::Object(map)) = (core.agents.get(&s.id), &mut shown)
                    {
                        map.insert("container".into(), json!(agent.container));
                    }
                    shown
                })
                .collect();
            ControlResponse::ok(Value::Array(all))
        }
        ControlRequest::StopSession { id } => match crate::agent::stop(core, &id).await {
            Ok(true) => {
                let container = crate::runtime::spec::container_name(&id);
                ControlResponse::ok(json!({"stopped": id, "container": container}))
            }
            Ok(false) => match lifecycle::close(core, &id).await {
                Ok(()) => ControlResponse::ok(json!({"closed": id})),
                Err(e) => ControlResponse::fail(e.to_string()),
            },
            Err(e) => ControlResponse::fail(e.to_string()),
        },
        ControlRequest::ConfirmList => ControlResponse::ok(json!(core.confirmations.list())),
        ControlRequest::ConfirmShow { id } => match core.confirmations.get_raw(&id) {
            Some((pending, raw)) => ControlResponse::ok(json!({
                "pending": pending,
                "raw_arguments": raw,
                "raw_display": crate::display::escape_json(&raw),
            })),
            None => ControlResponse::fail(format!(
                "no pending confirmation `{}`",
                crate::display::escape_str(&id)
            )),
        },
        ControlRequest::Pause { group } => {
            match pause::pause(core, &group, &pause::Actor::cli()).await {
                Ok(report) => ControlResponse::ok(json!(report)),
                Err(e) => ControlResponse::fail(e.to_string()),
            }
        }
        ControlRequest::Resume { group } => {
            match pause::resume(core, &group, &pause::Actor::cli()) {
                Ok(was) => ControlResponse::ok(json!({"group": group, "resumed": was.is_some()})),
                Err(e) => ControlResponse::fail(e.to_string()),
            }
        }
        ControlRequest::Budget => ControlResponse::ok(crate::serve::budget::report(
            core.config().model.caps(),
            core.model_ledger.today(),
        )),
        ControlRequest::BudgetExtend {
            group,
            task,
            tokens,
        } => {
            let scope = crate::model_proxy::Scope { group, task };
            match crate::serve::budget::extend(core, &scope, tokens, &pause::Actor::cli()) {
                Ok(done) => ControlResponse::ok(json!(done)),
                Err(e) => ControlResponse::fail(e.to_string()),
            }
        }
        // `converse` answers a prompt itself (it streams progress first); this
        // arm only keeps the match whole.
        ControlRequest::Prompt { .. } => {
            ControlResponse::fail("prompt is answered by the streaming path")
        }
        ControlRequest::ConfirmDecide { id, approve } => {
            let decision = if approve {
                Decision::Approve
            } else {
                Decision::Deny
            };
            let resolution = Resolution {
                decision,
                by: "cli".into(),
                plugin: None,
            };
            match core.confirmations.decide(&id, resolution) {
                Some(shown) => {
                    core.audit_core(
                        "confirmation.decided",
                        json!({"confirmation": shown.id, "tool": shown.tool, "session": shown.session,
                               "group": shown.group, "approved": approve, "decision": decision,
                               "by": "cli"}),
                    );
                    ControlResponse::ok(json!({"id": shown.id, "approved": approve}))
                }
                None => ControlResponse::fail(format!(
                    "no pending confirmation `{}` (unknown, already decided or expired)",
                    id.chars().take(64).collect::<String>()
                )),
            }
        }
    }
}

fn status(core: &Core) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "home": core.home.root(),
        "started_at": core.started_at,
        "sessions": core.sessions.len(),
        "pending_confirmations": core.confirmations.list().len(),
        "paused_groups": pause::status(&core.paused),
        "tools": core.catalog().all().len(),
        "plugins": core.plugins().health(),
        "memory_brief": core.plugins().brief_provider(core.config().agent.memory_brief.as_deref()),
        "audit": core.audit_log().health(),
    })
}
