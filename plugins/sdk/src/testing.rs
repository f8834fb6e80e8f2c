//! An in-process stand-in for the core, for plugin tests.
//!
//! [`Harness::start`] runs the SDK's real main loop ([`serve`]) on a thread,
//! connected by two OS pipes, and speaks the real line protocol to it: what a
//! test sees is what the core would see.
//!
//! With the `testing` feature (for plugins' `[dev-dependencies]`), the test
//! servers plugins share: [`certs`] (a CA and a server certificate made with
//! openssl), [`token_endpoint`] (an OAuth2 token and introspection endpoint),
//! [`random`] (test secrets) and [`heap`] (a counting allocator, to show memory
//! stays bounded).

pub use crate::child::HandlerChild;

#[cfg(feature = "testing")]
pub mod certs;
#[cfg(feature = "testing")]
pub mod heap;
#[cfg(feature = "testing")]
pub mod random;
#[cfg(feature = "testing")]
pub mod token_endpoint;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, PipeWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::error::{JsonRpcError, METHOD_NOT_FOUND};
use crate::plugin::Plugin;
use crate::runtime::{serve, Stopped};

/// How long the harness waits for an answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The code of the error the harness returns when no answer came in [`ANSWER_TIMEOUT`].
pub const NO_ANSWER: i64 = -32099;

type Answer = Result<Value, JsonRpcError>;
type Responder = Arc<dyn Fn(&str, &Value) -> Answer + Send + Sync>;

#[derive(Default)]
struct Received {
    notifications: Vec<(String, Value)>,
    requests: Vec<(String, Value)>,
    stray: Vec<String>,
}

/// The core's half of the connection, shared with the harness's reader thread.
struct CoreSide {
    input: Mutex<Option<PipeWriter>>,
    waiters: Mutex<HashMap<u64, mpsc::Sender<Answer>>>,
    received: Mutex<Received>,
    arrived: Condvar,
    responder: Mutex<Responder>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CoreSide {
    /// Writes one message as one line; false once the input is closed.
    fn send(&self, message: &Value) -> bool {
        self.send_line(message.to_string().as_bytes())
    }

    fn send_line(&self, line: &[u8]) -> bool {
        let mut input = lock(&self.input);
        let Some(pipe) = input.as_mut() else {
            return false;
        };
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        pipe.write_all(&bytes).and_then(|()| pipe.flush()).is_ok()
    }

    /// Reads the plugin's output until it ends.
    fn read_all(&self, output: impl BufRead) {
        for line in output.split(b'\n') {
            let Ok(line) = line else { break };
            self.dispatch(&line);
        }
        lock(&self.waiters).clear();
    }

    fn dispatch(&self, line: &[u8]) {
        let message = match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(m)) if m.get("jsonrpc") == Some(&json!("2.0")) => m,
            _ => return self.keep_stray(line),
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        match (
            message.get("method").and_then(Value::as_str),
            message.get("id"),
        ) {
            (Some(method), Some(id)) => {
                lock(&self.received)
                    .requests
                    .push((method.to_owned(), params.clone()));
                let responder = Arc::clone(&lock(&self.responder));
                let answer = match responder(method, &params) {
                    Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                    Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
                };
                self.send(&answer);
            }
            (Some(method), None) => {
                lock(&self.received)
                    .notifications
                    .push((method.to_owned(), params));
                self.arrived.notify_all();
            }
            (None, Some(id)) => {
                let answer = match (message.get("result"), message.get("error")) {
                    (Some(result), None) => Ok(result.clone()),
                    (None, Some(error)) => match serde_json::from_value(error.clone()) {
                        Ok(error) => Err(error),
                        Err(_) => return self.keep_stray(line),
                    },
                    _ => return self.keep_stray(line),
                };
                let waiter = id.as_u64().and_then(|id| lock(&self.waiters).remove(&id));
                match waiter {
                    Some(waiter) => drop(waiter.send(answer)),
                    None => self.keep_stray(line),
                }
            }
            (None, None) => self.keep_stray(line),
        }
    }

    fn keep_stray(&self, line: &[u8]) {
        lock(&self.received)
            .stray
            .push(String::from_utf8_lossy(line).into_owned());
    }
}

/// A plugin running in-process behind a pair of pipes, driven as the core would.
pub struct Harness {
    core: Arc<CoreSide>,
    next_id: AtomicU64,
    server: Mutex<Option<JoinHandle<std::io::Result<Stopped>>>>,
}

impl Harness {
    /// Starts `plugin`'s main loop. Plugin -> core requests get -32601 until [`Harness::on_request`].
    ///
    /// # Panics
    /// If the pipes or threads cannot be created.
    pub fn start<P: Plugin>(plugin: P) -> Harness {
        let (plugin_reads, core_writes) = std::io::pipe().expect("a pipe to the plugin");
        let (core_reads, plugin_writes) = std::io::pipe().expect("a pipe from the plugin");
        let refuse: Responder = Arc::new(|method, _| {
            Err(JsonRpcError::new(
                METHOD_NOT_FOUND,
                format!("the harness does not serve `{method}`"),
            ))
        });
        let core = Arc::new(CoreSide {
            input: Mutex::new(Some(core_writes)),
            waiters: Mutex::default(),
            received: Mutex::default(),
            arrived: Condvar::new(),
            responder: Mutex::new(refuse),
        });
        let reader = Arc::clone(&core);
        std::thread::Builder::new()
            .name("harness-core-reader".into())
            .spawn(move || reader.read_all(BufReader::new(core_reads)))
            .expect("the harness reader thread");
        let server = std::thread::Builder::new()
            .name("harness-plugin".into())
            .spawn(move || serve(plugin, BufReader::new(plugin_reads), plugin_writes))
            .expect("the plugin thread");
        Harness {
            core,
            next_id: AtomicU64::new(1),
            server: Mutex::new(Some(server)),
        }
    }

    /// Sends `initialize` with `config`, the temp dir as data dir and no credentials dir.
    pub fn initialize(&self, config: Value) -> Answer {
        self.initialize_with(json!({
            "plugin": "test",
            "version": "0.1.0",
            "config": config,
            "data_dir": std::env::temp_dir(),
            "credentials_dir": null,
        }))
    }

    /// Sends `initialize` with exactly `params`.
    pub fn initialize_with(&self, params: Value) -> Answer {
        self.request("initialize", params)
    }

    /// Calls `tool` as a session of group `main` would.
    pub fn call(&self, tool: &str, arguments: Value) -> Answer {
        self.call_in("main", tool, arguments)
    }

    /// Calls `tool` from a session of `group`, with an envelope shaped like the core's.
    pub fn call_in(&self, group: &str, tool: &str, arguments: Value) -> Answer {
        let params = self.call_params(group, tool, arguments);
        self.request("tool/call", params)
    }

    /// Calls `tool` as [`call`](Self::call) does, with `deadline_ms` in the params as
    /// the core sends it (any JSON value: a core's milliseconds left, or garbage).
    pub fn call_with_deadline(&self, tool: &str, arguments: Value, deadline_ms: Value) -> Answer {
        let mut params = self.call_params("main", tool, arguments);
        params["deadline_ms"] = deadline_ms;
        self.request("tool/call", params)
    }

    /// The `tool/call` params `{tool, envelope}`, the envelope shaped like the core's.
    fn call_params(&self, group: &str, tool: &str, arguments: Value) -> Value {
        let envelope = json!({
            "id": format!("req-{}", self.next_id.load(Ordering::Relaxed)),
            "version": 1,
            "type": "request",
            "topic": format!("tool.invoke.{tool}"),
            "source": "session:test-session",
            "correlation": "test-correlation",
            "timestamp": "2026-01-01T00:00:00Z",
            "group": group,
            "session": {"id": "test-session", "started_at": "2026-01-01T00:00:00Z"},
            "payload": {"arguments": arguments},
        });
        json!({"tool": tool, "envelope": envelope})
    }

    /// Sends `shutdown` and returns its answer.
    pub fn shutdown(&self) -> Answer {
        self.request("shutdown", json!({}))
    }

    /// Sends any request and waits up to [`ANSWER_TIMEOUT`] for its answer.
    pub fn request(&self, method: &str, params: Value) -> Answer {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, wait) = mpsc::channel();
        lock(&self.core.waiters).insert(id, answer);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if !self.core.send(&message) {
            lock(&self.core.waiters).remove(&id);
            return Err(JsonRpcError::new(NO_ANSWER, "the plugin's input is closed"));
        }
        wait.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(|_| {
            lock(&self.core.waiters).remove(&id);
            Err(JsonRpcError::new(
                NO_ANSWER,
                format!("no answer to `{method}` within {ANSWER_TIMEOUT:?}"),
            ))
        })
    }

    /// Sends a notification.
    pub fn notify(&self, method: &str, params: Value) {
        self.core
            .send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Writes `line` (plus a newline) as is: for malformed-input tests.
    pub fn send_line(&self, line: &str) {
        self.core.send_line(line.as_bytes());
    }

    /// Answers every plugin -> core request from now on with `responder(method, params)`.
    pub fn on_request(&self, responder: impl Fn(&str, &Value) -> Answer + Send + Sync + 'static) {
        *lock(&self.core.responder) = Arc::new(responder);
    }

    /// Plugin -> core requests seen so far, as `(method, params)`.
    pub fn core_requests(&self) -> Vec<(String, Value)> {
        lock(&self.core.received).requests.clone()
    }

    /// Notifications (`log`, `event/publish`, ...) seen so far, as `(method, params)`.
    pub fn notifications(&self) -> Vec<(String, Value)> {
        lock(&self.core.received).notifications.clone()
    }

    /// Output lines that were not JSON-RPC (a correct plugin has none).
    pub fn stray_lines(&self) -> Vec<String> {
        lock(&self.core.received).stray.clone()
    }

    /// Waits for a notification `method` whose params satisfy `matches`; returns its params.
    pub fn wait_for_notification(
        &self,
        method: &str,
        matches: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let mut received = lock(&self.core.received);
        loop {
            let found = received
                .notifications
                .iter()
                .find(|(m, params)| m == method && matches(params));
            if let Some((_, params)) = found {
                return Some(params.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            received = self
                .core
                .arrived
                .wait_timeout(received, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Closes the plugin's stdin, as a core that went away would.
    pub fn close_input(&self) {
        lock(&self.core.input).take();
    }

    /// Waits for the main loop to return; `None` if it is still running after `timeout`.
    pub fn wait_stopped(&self, timeout: Duration) -> Option<Stopped> {
        let deadline = Instant::now() + timeout;
        let mut server = lock(&self.server);
        while server.as_ref().is_some_and(|s| !s.is_finished()) {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        server.take()?.join().ok()?.ok()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.close_input();
    }
}
