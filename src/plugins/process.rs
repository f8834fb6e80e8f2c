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
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

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

/// A running handler.
pub struct HandlerProcess {
    name: String,
    child: tokio::sync::Mutex<Child>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    alive: Arc<std::sync::atomic::AtomicBool>,
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
}

impl HandlerProcess {
    /// Starts the handler with a cleared environment.
    pub fn spawn(launch: Launch<'_>) -> std::io::Result<HandlerProcess> {
        let Some((program, args)) = launch.command.split_first() else {
            return Err(std::io::Error::other("empty handler command"));
        };
        let program = resolve_program(launch.folder, program);
        let mut command = Command::new(&program);
        command
            .args(args)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
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
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(read_answers(
                launch.name.to_owned(),
                stdout,
                Arc::clone(&pending),
                Arc::clone(&alive),
            ));
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
        self.alive.load(Ordering::SeqCst)
    }

    /// Sends a request and waits for its answer until `deadline`.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        deadline: Duration,
    ) -> Result<RpcOutcome, RpcFailure> {
        if !self.is_alive() {
            return Err(RpcFailure::Broken);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
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
        self.alive.store(false, Ordering::SeqCst);
    }
}

/// A relative program path is taken from the plugin folder when it exists there.
fn resolve_program(folder: &Path, program: &str) -> PathBuf {
    let candidate = folder.join(program);
    if program.contains('/') || candidate.exists() {
        candidate
    } else {
        PathBuf::from(program)
    }
}

async fn read_answers(
    name: String,
    stdout: impl AsyncRead + Unpin,
    pending: Pending,
    alive: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut reader = BufReader::new(stdout);
    loop {
        match read_bounded_line(&mut reader).await {
            Ok(Some(line)) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if !dispatch_line(&name, &line, &pending) {
                    break;
                }
            }
            Ok(None) => {
                tracing::warn!(plugin = %name, "handler closed its output");
                break;
            }
            Err(problem) => {
                tracing::warn!(plugin = %name, %problem, "handler output refused");
                break;
            }
        }
    }
    alive.store(false, Ordering::SeqCst);
    if let Ok(mut pending) = pending.lock() {
        pending.clear();
    }
}

/// Handles one line; false if it broke the protocol.
fn dispatch_line(name: &str, line: &[u8], pending: &Pending) -> bool {
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
        } else {
            tracing::debug!(plugin = %name, %method, "plugin request not served yet");
        }
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

/// Reads one line of at most [`MAX_LINE_BYTES`] without buffering more than that.
async fn read_bounded_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
) -> Result<Option<Vec<u8>>, String> {
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf().await.map_err(|e| e.to_string())?;
        if available.is_empty() {
            return Ok(if line.is_empty() { None } else { Some(line) });
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..end], end + 1),
            None => (available, available.len()),
        };
        if line.len() + chunk.len() > MAX_LINE_BYTES {
            return Err(format!("a line is over {MAX_LINE_BYTES} bytes"));
        }
        line.extend_from_slice(chunk);
        let found_newline = done > chunk.len();
        reader.consume(done);
        if found_newline {
            return Ok(Some(line));
        }
    }
}

async fn forward_stderr(name: String, stderr: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(stderr);
    while let Ok(Some(line)) = read_bounded_line(&mut reader).await {
        let text = String::from_utf8_lossy(&line);
        // A plugin may print its own token; the log gets the redacted line.
        let (clean, _) = crate::sanitize::shared().redact_str(text.trim_end());
        tracing::info!(plugin = %name, stderr = %clean, "plugin stderr");
    }
}
