//! One plugin handler process and the JSON-RPC 2.0 conversation with it (one object per line).
//!
//! The handler starts with a cleared environment and its data dir as cwd.
//! Its stdout lines are bounded; a line that is not JSON-RPC, or a crash, fails
//! every call in flight. Details go to the log, never to the agent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::bounded_line::{self, Line};

/// Longest line accepted from a handler.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What a request to the handler came back with.
#[derive(Debug)]
pub enum RpcOutcome {
    /// A JSON-RPC result.
    Result(Value),
    /// A JSON-RPC error object.
    Error(Value),
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcFailure {
    /// The deadline passed first.
    Timeout,
    /// The process died or spoke something other than JSON-RPC.
    Broken,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<RpcOutcome>>>>;

/// Most messages one handler may have on their way to the core at once
/// (queued, or being answered): past that its output is not read until one is
/// dealt with, so a flooding handler cannot grow the core's memory or tasks.
pub const MAX_QUEUED_TO_CORE: usize = 64;

/// A message's place among its handler's [`MAX_QUEUED_TO_CORE`]: hold it until
/// the message is dealt with (a request: answered).
#[derive(Debug)]
pub struct Queued(#[allow(dead_code)] OwnedSemaphorePermit);

/// A message a handler sends on its own initiative.
#[derive(Debug)]
pub enum FromPlugin {
    /// A request (`services/*`) the core must answer with [`HandlerProcess::respond`].
    Request {
        /// The plugin.
        plugin: String,
        /// The plugin's request id, echoed in the answer.
        id: Value,
        /// The method.
        method: String,
        /// Its params.
        params: Value,
        /// Its place on the way to the core, until answered.
        queued: Queued,
    },
    /// A notification other than `log` (e.g. `event/publish`).
    Notification {
        /// The plugin.
        plugin: String,
        /// The method.
        method: String,
        /// Its params.
        params: Value,
        /// Its place on the way to the core, until handled.
        queued: Queued,
    },
}

/// A running handler.
pub struct HandlerProcess {
    name: String,
    child: tokio::sync::Mutex<Child>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    alive: tokio::sync::watch::Receiver<bool>,
}

/// How to start a handler.
pub struct Launch<'a> {
    /// Plugin name.
    pub name: &'a str,
    /// The plugin folder.
    pub folder: &'a Path,
    /// Program and arguments.
    pub command: Vec<String>,
    /// The data directory (cwd and HOME).
    pub data_dir: &'a Path,
    /// `PATH` for the handler.
    pub path: std::ffi::OsString,
    /// Extra `CARAPACE_*`/`TMPDIR` variables the core defines for it.
    pub env: Vec<(String, std::ffi::OsString)>,
    /// A launcher placed before the program (the confinement wrapper), if any.
    pub wrapper: Vec<std::ffi::OsString>,
    /// Where the handler's requests and notifications go.
    pub to_core: tokio::sync::mpsc::UnboundedSender<FromPlugin>,
}

impl HandlerProcess {
    /// Starts the handler with a cleared environment.
    pub fn spawn(launch: Launch<'_>) -> std::io::Result<HandlerProcess> {
        let Some((program, args)) = launch.command.split_first() else {
            return Err(std::io::Error::other("empty handler command"));
        };
        let program = resolve_program(launch.folder, program, &launch.path);
        let mut command = match launch.wrapper.split_first() {
            Some((launcher, launcher_args)) => {
                let mut c = Command::new(launcher);
                c.args(launcher_args).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        command
            .args(args)
            .env_clear()
            .env("PATH", &launch.path)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .env(
                "LANG",
                std::env::var_os("LANG").unwrap_or_else(|| "C.UTF-8".into()),
            )
            .env("HOME", launch.data_dir)
            .env("CARAPACE_PLUGIN", launch.name)
            .env("CARAPACE_PLUGIN_DIR", launch.folder)
            .env("CARAPACE_DATA_DIR", launch.data_dir)
            .current_dir(launch.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        let pending: Pending = Arc::default();
        let (alive_tx, alive) = tokio::sync::watch::channel(true);
        match child.stdout.take() {
            Some(stdout) => {
                tokio::spawn(read_answers(
                    launch.name.to_owned(),
                    stdout,
                    Arc::clone(&pending),
                    alive_tx,
                    launch.to_core,
                ));
            }
            None => {
                let _ = alive_tx.send(false);
            }
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_stderr(launch.name.to_owned(), stderr));
        }
        Ok(HandlerProcess {
            name: launch.name.to_owned(),
            child: tokio::sync::Mutex::new(child),
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
            alive,
        })
    }

    /// Whether the process is still answering.
    pub fn is_alive(&self) -> bool {
        *self.alive.borrow()
    }

    /// Resolves when the handler stops answering (exit, crash, or a protocol break).
    pub async fn stopped(&self) {
        let mut alive = self.alive.clone();
        let _ = alive.wait_for(|up| !*up).await;
    }

    /// The operating-system pid of the handler, while it runs.
    pub async fn pid(&self) -> Option<u32> {
        self.child.lock().await.id()
    }

    /// Answers a request the handler made: its result, or an error whose
    /// `data.code` says why (`(code, message, more data)`; the more data an
    /// object whose fields join `code`).
    pub async fn respond(&self, id: Value, outcome: Result<Value, (&'static str, String, Value)>) {
        let line = match outcome {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message, more)) => {
                let mut data = json!({"code": code});
                if let (Value::Object(data), Value::Object(more)) = (&mut data, more) {
                    for (key, value) in more {
                        data.entry(key).or_insert(value);
                    }
                }
                json!({"jsonrpc": "2.0", "id": id,
                       "error": {"code": -32000, "message": message, "data": data}})
            }
        };
        if self.write_line(&line).await.is_err() {
            tracing::debug!(plugin = %self.name, "could not answer a plugin request");
        }
    }

    /// Sends a notification (e.g. `event`).
    pub async fn notify(&self, method: &str, params: Value) {
        let line = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let _ = self.write_line(&line).await;
    }

    /// Kills the process at once (used when the core gives up on it).
    pub async fn kill(&self) {
        let _ = self.child.lock().await.kill().await;
    }

    /// Sends a request and waits for its answer until `deadline`.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        deadline: Duration,
    ) -> Result<RpcOutcome, RpcFailure> {
        self.request_as(self.reserve_id(), method, params, deadline)
            .await
    }

    /// An id for a request the caller wants to know before sending it.
    pub fn reserve_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a request under a reserved id and waits until `deadline`.
    pub async fn request_as(
        &self,
        id: u64,
        method: &str,
        params: Value,
        deadline: Duration,
    ) -> Result<RpcOutcome, RpcFailure> {
        if !self.is_alive() {
            return Err(RpcFailure::Broken);
        }
        let (answer, wait) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, answer);
        }
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.write_line(&line).await.is_err() {
            self.forget(id);
            return Err(RpcFailure::Broken);
        }
        match tokio::time::timeout(deadline, wait).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(RpcFailure::Broken),
            Err(_) => {
                // The late answer finds no waiter and is dropped.
                self.forget(id);
                Err(RpcFailure::Timeout)
            }
        }
    }

    fn forget(&self, id: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&id);
        }
    }

    async fn write_line(&self, value: &Value) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(value)?;
        bytes.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        let Some(stdin) = stdin.as_mut() else {
            return Err(std::io::Error::other("stdin closed"));
        };
        stdin.write_all(&bytes).await?;
        stdin.flush().await
    }

    /// Asks the handler to exit, then kills it after `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.request("shutdown", json!({}), grace).await;
        self.stdin.lock().await.take();
        let mut child = self.child.lock().await;
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            tracing::warn!(plugin = %self.name, "handler did not exit; killing it");
            let _ = child.kill().await;
        }
    }
}

/// A relative program path is taken from the plugin folder when it exists there,
/// else looked up on the handler's `PATH`.
pub fn resolve_program(folder: &Path, program: &str, path: &std::ffi::OsStr) -> PathBuf {
    let candidate = folder.join(program);
    if program.contains('/') || candidate.exists() {
        return candidate;
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

async fn read_answers(
    name: String,
    stdout: impl AsyncRead + Unpin,
    pending: Pending,
    alive: tokio::sync::watch::Sender<bool>,
    to_core: tokio::sync::mpsc::UnboundedSender<FromPlugin>,
) {
    let mut reader = BufReader::new(stdout);
    let places = Arc::new(Semaphore::new(MAX_QUEUED_TO_CORE));
    loop {
        // Nothing more is read while the handler has too much on its way to the core.
        let Ok(place) = Arc::clone(&places).acquire_owned().await else {
            break;
        };
        match read_bounded_line(&mut reader).await {
            Ok(Some(line)) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if !dispatch_line(&name, &line, &pending, &to_core, Queued(place)) {
                    break;
                }
            }
            Ok(None) => {
                tracing::debug!(plugin = %name, "handler closed its output");
                break;
            }
            Err(problem) => {
                tracing::warn!(plugin = %name, %problem, "handler output refused");
                break;
            }
        }
    }
    if let Ok(mut pending) = pending.lock() {
        pending.clear();
    }
    let _ = alive.send(false);
}

/// Handles one line; false if it broke the protocol.
fn dispatch_line(
    name: &str,
    line: &[u8],
    pending: &Pending,
    to_core: &tokio::sync::mpsc::UnboundedSender<FromPlugin>,
    queued: Queued,
) -> bool {
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(line) else {
        tracing::warn!(plugin = %name, "handler wrote a line that is not a JSON-RPC object");
        return false;
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        tracing::warn!(plugin = %name, "handler wrote a message without jsonrpc 2.0");
        return false;
    }
    if let Some(method) = message.get("method").and_then(Value::as_str) {
        if method == "log" {
            let text = message
                .get("params")
                .and_then(|p| p.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let (clean, _) = crate::sanitize::shared().redact_str(text);
            tracing::info!(plugin = %name, message = %clean, "plugin log");
            return true;
        }
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let forwarded = match message.get("id") {
            Some(id) => FromPlugin::Request {
                plugin: name.to_owned(),
                id: id.clone(),
                method: method.to_owned(),
                params,
                queued,
            },
            None => FromPlugin::Notification {
                plugin: name.to_owned(),
                method: method.to_owned(),
                params,
                queued,
            },
        };
        let _ = to_core.send(forwarded);
        return true;
    }
    let Some(id) = message.get("id").and_then(Value::as_u64) else {
        tracing::warn!(plugin = %name, "handler answered without a numeric id");
        return false;
    };
    let outcome = match (message.get("result"), message.get("error")) {
        (Some(result), None) => RpcOutcome::Result(result.clone()),
        (None, Some(error)) => RpcOutcome::Error(error.clone()),
        _ => {
            tracing::warn!(plugin = %name, "handler answer has neither result nor error");
            return false;
        }
    };
    let waiter = pending.lock().ok().and_then(|mut p| p.remove(&id));
    match waiter {
        Some(waiter) => {
            let _ = waiter.send(outcome);
        }
        None => tracing::debug!(plugin = %name, id, "late or unknown answer dropped"),
    }
    true
}

/// Reads one line of at most [`MAX_LINE_BYTES`] without buffering more than that;
/// a longer line is refused (its rest left unread).
async fn read_bounded_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Vec<u8>>, String> {
    match bounded_line::read_line(reader, MAX_LINE_BYTES).await {
        Ok(None) => Ok(None),
        Ok(Some(Line::Whole(line))) => Ok(Some(line)),
        Ok(Some(Line::Over(_))) => Err(format!("a line is over {MAX_LINE_BYTES} bytes")),
        Err(e) => Err(e.to_string()),
    }
}

async fn forward_stderr(name: String, stderr: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(stderr);
    loop {
        match read_bounded_line(&mut reader).await {
            Ok(Some(line)) => {
                let text = String::from_utf8_lossy(&line);
                // A plugin may print its own token; the log gets the redacted line.
                let (clean, _) = crate::sanitize::shared().redact_str(text.trim_end());
                tracing::info!(plugin = %name, stderr = %clean, "plugin stderr");
            }
            Ok(None) => return,
            // Too long to log: drop the line, keep reading, or the plugin's next write
            // to stderr would fail (or block) and take its call down with it.
            Err(reason) => {
                tracing::warn!(plugin = %name, %reason, "plugin stderr line dropped");
                // The rest of the line: read to its newline, dropped.
                if bounded_line::skip_line(&mut reader).await.is_err() {
                    return;
                }
            }
        }
    }
}
