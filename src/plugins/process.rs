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
use tokio::sync::{oneshot, watch, MutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

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
    /// The deadline passed before any byte of the request reached the
    /// handler (its input was held by another line, or its pipe full): it
    /// never saw the request.
    NotSent,
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
    alive: watch::Receiver<bool>,
    /// Says the handler stopped answering: its output ended or broke the
    /// protocol ([`read_answers`]), or a line to it was cut part-way ([`Writing`]).
    alive_tx: watch::Sender<bool>,
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
        let (alive_tx, alive) = watch::channel(true);
        match child.stdout.take() {
            Some(stdout) => {
                tokio::spawn(read_answers(
                    launch.name.to_owned(),
                    stdout,
                    Arc::clone(&pending),
                    alive_tx.clone(),
                    launch.to_core,
                ));
            }
            None => {
                alive_tx.send_replace(false);
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
            alive_tx,
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
        let until = deadline_after(UNASKED_WRITE_DEADLINE);
        if self.write_line(&line, until).await.is_err() {
            tracing::warn!(plugin = %self.name, "could not answer a plugin request in time");
        }
    }

    /// Sends a notification (e.g. `event`). A handler that takes none of it
    /// within [`UNASKED_WRITE_DEADLINE`] does not get it; one cut part-way
    /// is restarted (see [`HandlerProcess::write_line`]).
    pub async fn notify(&self, method: &str, params: Value) {
        let line = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let until = deadline_after(UNASKED_WRITE_DEADLINE);
        if self.write_line(&line, until).await.is_err() {
            tracing::warn!(plugin = %self.name, method, "could not send a notification in time");
        }
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
    ///
    /// The deadline covers the whole request: the wait for the handler's stdin,
    /// the write (which waits while the pipe is full, i.e. while the handler
    /// reads nothing) and the answer. A request cut part-way is a `Timeout`
    /// like a late answer: part of it may have reached the handler, which may
    /// still read it and act (see [`HandlerProcess::write_line`] for what
    /// happens to the handler then). One of which no byte went in is `NotSent`.
    pub async fn request_as(
        &self,
        id: u64,
        method: &str,
        params: Value,
        deadline: Duration,
    ) -> Result<RpcOutcome, RpcFailure> {
        let until = deadline_after(deadline);
        if !self.is_alive() {
            return Err(RpcFailure::Broken);
        }
        let (answer, wait) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, answer);
        }
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if let Err(failure) = self.write_line(&line, until).await {
            self.forget(id);
            return Err(failure);
        }
        match tokio::time::timeout_at(until, wait).await {
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

    /// Writes one line to the handler before `until` (after it: `NotSent` if
    /// no byte went in, else `Timeout`).
    ///
    /// A line that did not start (the deadline passed while waiting for stdin,
    /// or while the pipe was full before its first byte) leaves the pipe whole:
    /// nothing more is done. A line cut part-way (by the deadline, a failed
    /// write, or the caller giving up) leaves half a JSON object in the pipe
    /// that would run into the next line, and the handler may still read and
    /// act on what reached it. There is no telling the handler where the next
    /// line starts, so [`Writing`] closes its stdin (no byte can follow the cut
    /// ones; the handler reads EOF once it reads again) and marks the process
    /// stopped: from then on it gets no call (`PLUGIN_UNAVAILABLE`), and the
    /// supervisor kills it and starts it again with its back-off, as after a
    /// line the handler broke on its side. Calls still in flight on it end with
    /// that kill (`Broken`). A handler that merely reads slowly is restarted
    /// too, once a request it was too slow to take is cut: its input is no
    /// longer usable.
    async fn write_line(&self, value: &Value, until: Instant) -> Result<(), RpcFailure> {
        let mut bytes = serde_json::to_vec(value).map_err(|_| RpcFailure::Broken)?;
        bytes.push(b'\n');
        let stdin = tokio::time::timeout_at(until, self.stdin.lock())
            .await
            .map_err(|_| RpcFailure::NotSent)?;
        let mut writing = Writing {
            stdin,
            alive_tx: &self.alive_tx,
            plugin: &self.name,
            written: 0,
            whole: false,
        };
        match tokio::time::timeout_at(until, writing.write_all(&bytes)).await {
            Ok(written) => written.map_err(|_| RpcFailure::Broken),
            Err(_) if writing.written == 0 => Err(RpcFailure::NotSent),
            Err(_) => Err(RpcFailure::Timeout),
        }
    }

    /// Asks the handler to exit, then kills it once `grace` has passed: one
    /// deadline for the request, closing its input and its exit.
    pub async fn shutdown(&self, grace: Duration) {
        let until = deadline_after(grace);
        let _ = self.request("shutdown", json!({}), grace).await;
        // Every write is bounded, so the lock comes; if not in time, the kill
        // below ends the handler with its input still open.
        if let Ok(mut stdin) = tokio::time::timeout_at(until, self.stdin.lock()).await {
            stdin.take();
        }
        let mut child = self.child.lock().await;
        if tokio::time::timeout_at(until, child.wait()).await.is_err() {
            tracing::warn!(plugin = %self.name, "handler did not exit; killing it");
            let _ = child.kill().await;
        }
    }
}

/// One line on its way into a handler's stdin, holding the stdin lock. Dropped
/// after part of the line went in but not all of it, it closes the handler's
/// stdin and marks the process stopped (see [`HandlerProcess::write_line`]).
struct Writing<'a> {
    stdin: MutexGuard<'a, Option<ChildStdin>>,
    alive_tx: &'a watch::Sender<bool>,
    plugin: &'a str,
    written: usize,
    whole: bool,
}

impl Writing<'_> {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let Some(pipe) = self.stdin.as_mut() else {
            return Err(std::io::Error::other("stdin closed"));
        };
        while self.written < bytes.len() {
            let n = pipe.write(&bytes[self.written..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        pipe.flush().await?;
        self.whole = true;
        Ok(())
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if self.written == 0 || self.whole {
            return;
        }
        tracing::warn!(plugin = %self.plugin, written = self.written,
            "a line to the handler was cut part-way; closing its input and restarting it");
        // Still under the lock: no other line can follow the cut one.
        self.stdin.take();
        self.alive_tx.send_replace(false);
    }
}

/// How long a line the handler did not ask for (a notification, an answer to
/// its own request) may wait for its stdin and take to write.
const UNASKED_WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// `deadline` from now (one too far to represent: a year from now).
fn deadline_after(deadline: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(deadline)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
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
    alive: watch::Sender<bool>,
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
    alive.send_replace(false);
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
        // Most often a call whose deadline passed: the tool did answer after
        // all, and whether it succeeded is worth a line (the agent was told
        // it may still have acted).
        None => tracing::info!(
            plugin = %name,
            id,
            ok = matches!(outcome, RpcOutcome::Result(_)),
            "an answer came after its call had timed out (or for no call); dropped"
        ),
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
