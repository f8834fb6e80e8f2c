//! The main loop: read lines from the core, dispatch them, answer on one writer.
//!
//! The reading turn passes between the threads of a [`Crew`]: whichever reads a call
//! runs it, and another thread reads meanwhile. Never panics on input: a line that
//! is not JSON-RPC is logged (as a `log` notification, without its content) and skipped.

use std::io::{BufRead, BufReader, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::{CallContext, Envelope};
use crate::crew::{Crew, Job};
use crate::error::{
    JsonRpcError, ToolError, HANDLER_ERROR, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST,
    METHOD_NOT_FOUND, NOT_INITIALIZED,
};
use crate::init::Init;
use crate::link::{CoreLink, Level, Peer};
use crate::plugin::{BriefRequest, Plugin};
use crate::wire::{self, Incoming, Line, MAX_INPUT_LINE_BYTES};

/// How long `shutdown` waits for calls in flight before answering.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The core sent `shutdown`, and it was answered.
    Shutdown,
    /// The input ended: the core went away.
    InputClosed,
}

/// Runs `plugin` on stdin/stdout until `shutdown` or the end of stdin; exit code 0 for both.
///
/// Write nothing to stdout yourself: use [`CallContext::log`] or stderr.
pub fn run<P: Plugin>(plugin: P) -> ExitCode {
    match serve(plugin, BufReader::new(std::io::stdin()), std::io::stdout()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("carapace-plugin-sdk: cannot start: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `plugin` on any line streams (what [`run`] does on stdin/stdout).
///
/// Returns once `shutdown` is answered or `input` ends; fails only if a thread cannot start.
pub fn serve<P, R, W>(plugin: P, input: R, output: W) -> std::io::Result<Stopped>
where
    P: Plugin,
    R: BufRead + Send + 'static,
    W: Write + Send + 'static,
{
    let (exit, stopped) = mpsc::channel();
    let server = Arc::new(Server {
        plugin: RwLock::new(plugin),
        initialized: AtomicBool::new(false),
        shutting_down: AtomicBool::new(false),
        link: CoreLink {
            peer: Arc::new(Peer::new(Box::new(output))),
        },
        crew: Crew::new(Some(input)),
        exit,
    });
    start_crew_thread(server)?;
    Ok(stopped.recv().unwrap_or(Stopped::InputClosed))
}

/// Starts one more thread taking turns at the input.
fn start_crew_thread<P, R>(server: Arc<Server<P, R>>) -> std::io::Result<()>
where
    P: Plugin,
    R: BufRead + Send + 'static,
{
    std::thread::Builder::new()
        .name("carapace-plugin".into())
        .spawn(move || server.take_turns())
        .map(drop)
}

struct Server<P, R> {
    plugin: RwLock<P>,
    initialized: AtomicBool,
    shutting_down: AtomicBool,
    link: CoreLink,
    /// The input, `None` once it has ended.
    crew: Crew<Option<R>>,
    exit: mpsc::Sender<Stopped>,
}

/// How far ahead a core's `deadline_ms` may reach; more is taken as this (one day).
const MAX_DEADLINE: Duration = Duration::from_secs(24 * 60 * 60);

/// The `tool/call` params.
#[derive(Deserialize)]
struct CallParams {
    tool: String,
    envelope: Value,
    /// What is left of the core's deadline, in milliseconds; anything but a
    /// non-negative integer counts as absent (see [`deadline_in`]).
    #[serde(default)]
    deadline_ms: Value,
}

/// One `tool/call`, taken apart.
#[derive(Debug)]
struct Call {
    tool: String,
    envelope: Envelope,
    arguments: Value,
    /// How long the core waits for the answer, from when the request arrived.
    deadline_in: Option<Duration>,
}

impl<P: Plugin, R: BufRead + Send + 'static> Server<P, R> {
    /// One crew thread: read until a line needs work, do it, and again, until the input ends.
    fn take_turns(self: Arc<Self>) {
        while let Some(job) = self.next_job() {
            let spare = Arc::clone(&self);
            self.crew.run(job, move || start_crew_thread(spare).is_ok());
        }
        self.crew.leave();
    }

    /// Takes the reading turn and reads until a line that needs a job, answering
    /// everything else in place; `None` once the input has ended.
    fn next_job(self: &Arc<Self>) -> Option<Job> {
        let mut turn = self.crew.read();
        loop {
            // Gone once it ended: threads waiting for their turn then stop too.
            let input = turn.as_mut()?;
            match wire::read_line(input, MAX_INPUT_LINE_BYTES) {
                Line::End => {
                    *turn = None;
                    self.link.peer.close();
                    let _ = self.exit.send(Stopped::InputClosed);
                    return None;
                }
                Line::TooLong => self.link.log(
                    Level::Warn,
                    format!("ignored an input line over {MAX_INPUT_LINE_BYTES} bytes"),
                ),
                Line::Text(line) if line.iter().all(u8::is_ascii_whitespace) => {}
                Line::Text(line) => match wire::parse(&line) {
                    Ok(message) => {
                        if let Some(job) = self.handle(message) {
                            return Some(job);
                        }
                    }
                    Err(reason) => self
                        .link
                        .log(Level::Warn, format!("ignored a malformed line: {reason}")),
                },
            }
        }
    }

    /// Answers `message` in place, or returns the job that will (a call, a brief, an event).
    fn handle(self: &Arc<Self>, message: Incoming) -> Option<Job> {
        match message {
            Incoming::Response { id, outcome } => {
                if !self.link.peer.route(&id, outcome) {
                    self.link.log(
                        Level::Debug,
                        format!("dropped an answer to unknown id {id}"),
                    );
                }
                None
            }
            Incoming::Request { id, method, params } => match method.as_str() {
                "initialize" => {
                    self.initialize(&id, params);
                    None
                }
                "tool/call" => self.call(id, params),
                "hook/memory_brief" => self.memory_brief(id, params),
                "shutdown" => {
                    Arc::clone(self).shutdown(id);
                    None
                }
                _ => {
                    self.link.peer.respond(
                        &id,
                        Err(JsonRpcError::new(
                            METHOD_NOT_FOUND,
                            format!("method `{method}` is not served by this plugin"),
                        )),
                    );
                    None
                }
            },
            Incoming::Notification { method, params } => {
                if method != "event" || !self.initialized.load(Ordering::SeqCst) {
                    return None;
                }
                let envelope = params.get("envelope").cloned().unwrap_or(Value::Null);
                let server = Arc::clone(self);
                Some(Box::new(move || {
                    let plugin = server.plugin.read().unwrap_or_else(PoisonError::into_inner);
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        plugin.event(&server.link, envelope);
                    }));
                }))
            }
        }
    }

    /// Runs in the reading turn: the core waits for it before anything else. Once a
    /// successful answer is written, [`Plugin::started`] runs on a thread of its own.
    fn initialize(self: &Arc<Self>, id: &Value, params: Value) {
        if self.initialized.load(Ordering::SeqCst) {
            // Re-initializing would wait for every call to let go of the plugin.
            let refusal = JsonRpcError::new(INVALID_REQUEST, "the plugin is already initialized");
            return self.link.peer.respond(id, Err(refusal));
        }
        let answer = match serde_json::from_value::<Init>(params) {
            Err(e) => Err(JsonRpcError::new(
                INVALID_PARAMS,
                format!("initialize params: {e}"),
            )),
            Ok(init) => {
                let mut plugin = self.plugin.write().unwrap_or_else(PoisonError::into_inner);
                match catch_unwind(AssertUnwindSafe(|| plugin.initialize(&init))) {
                    Ok(Ok(())) => {
                        self.initialized.store(true, Ordering::SeqCst);
                        Ok(json!({}))
                    }
                    Ok(Err(error)) => Err(error.into()),
                    Err(_) => Err(crate::InitError::internal("initialize panicked").into()),
                }
            }
        };
        let succeeded = answer.is_ok();
        self.link.peer.respond(id, answer);
        if succeeded {
            Arc::clone(self).start_background();
        }
    }

    /// Runs [`Plugin::started`] once, on a thread of its own (a panic in it is caught).
    /// If no thread can be made the plugin serves on without it, and says so.
    fn start_background(self: Arc<Self>) {
        let server = Arc::clone(&self);
        let spawned = std::thread::Builder::new()
            .name("carapace-plugin-started".into())
            .spawn(move || {
                let plugin = server.plugin.read().unwrap_or_else(PoisonError::into_inner);
                let outcome = catch_unwind(AssertUnwindSafe(|| plugin.started(&server.link)));
                drop(plugin);
                if outcome.is_err() {
                    server
                        .link
                        .log(Level::Error, "the plugin's background work panicked");
                }
            });
        if spawned.is_err() {
            self.link
                .log(Level::Error, "no thread for the plugin's background work");
        }
    }

    /// The job answering a `tool/call`, or `None` when it was refused in place.
    fn call(self: &Arc<Self>, id: Value, params: Value) -> Option<Job> {
        if self.shutting_down.load(Ordering::SeqCst) {
            let refusal = ToolError::retriable("the plugin is shutting down");
            self.link.peer.respond(&id, Err(refusal.into()));
            return None;
        }
        if !self.initialized.load(Ordering::SeqCst) {
            let refusal = JsonRpcError::new(NOT_INITIALIZED, "the plugin is not initialized");
            self.link.peer.respond(&id, Err(refusal));
            return None;
        }
        let received = Instant::now();
        let Call {
            tool,
            envelope,
            arguments,
            deadline_in,
        } = match split_call(params) {
            Ok(call) => call,
            Err(error) => {
                self.link.peer.respond(&id, Err(error));
                return None;
            }
        };
        // Counted from the request's arrival, not from when a thread is free to run it.
        let deadline = deadline_in.and_then(|left| received.checked_add(left));
        let server = Arc::clone(self);
        Some(Box::new(move || {
            let ctx = CallContext::new(id, envelope, server.link.clone(), deadline);
            let plugin = server.plugin.read().unwrap_or_else(PoisonError::into_inner);
            let answer =
                match catch_unwind(AssertUnwindSafe(|| plugin.call(&ctx, &tool, arguments))) {
                    Ok(answer) => answer.map_err(JsonRpcError::from),
                    Err(_) => Err(JsonRpcError {
                        code: INTERNAL_ERROR,
                        message: "the tool failed unexpectedly".into(),
                        data: Some(json!({"code": HANDLER_ERROR, "retriable": false})),
                    }),
                };
            drop(plugin);
            server.link.peer.respond(ctx.call_id(), answer);
        }))
    }

    /// The job answering `hook/memory_brief`, like a call (the core waits 5 s at most).
    fn memory_brief(self: &Arc<Self>, id: Value, params: Value) -> Option<Job> {
        if !self.initialized.load(Ordering::SeqCst) {
            let refusal = JsonRpcError::new(NOT_INITIALIZED, "the plugin is not initialized");
            self.link.peer.respond(&id, Err(refusal));
            return None;
        }
        let request = match serde_json::from_value::<BriefRequest>(params) {
            Ok(request) => request,
            Err(_) => {
                let refusal = JsonRpcError::new(
                    INVALID_PARAMS,
                    "`group` must be a string (`session` a string, `origin` an origin)",
                );
                self.link.peer.respond(&id, Err(refusal));
                return None;
            }
        };
        let server = Arc::clone(self);
        Some(Box::new(move || {
            let plugin = server.plugin.read().unwrap_or_else(PoisonError::into_inner);
            let answer = match catch_unwind(AssertUnwindSafe(|| plugin.memory_brief_for(&request)))
            {
                Ok(Some(Ok(brief))) => Ok(json!(brief)),
                Ok(Some(Err(error))) => Err(JsonRpcError::from(error)),
                Ok(None) => Err(JsonRpcError::new(
                    METHOD_NOT_FOUND,
                    "this plugin does not serve hook/memory_brief",
                )),
                Err(_) => Err(JsonRpcError::new(
                    INTERNAL_ERROR,
                    "the brief failed unexpectedly",
                )),
            };
            drop(plugin);
            server.link.peer.respond(&id, answer);
        }))
    }

    /// Answers once the calls in flight are done (or after [`SHUTDOWN_DRAIN`]) and
    /// [`Plugin::stopping`] returned, then stops.
    /// The reader keeps routing answers meanwhile, so draining calls can still ask the core.
    fn shutdown(self: Arc<Self>, id: Value) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let finish = move |server: &Server<P, R>| {
            server.crew.wait_idle(SHUTDOWN_DRAIN);
            if server.initialized.load(Ordering::SeqCst) {
                let plugin = server.plugin.read().unwrap_or_else(PoisonError::into_inner);
                let _ = catch_unwind(AssertUnwindSafe(|| plugin.stopping()));
            }
            server.link.peer.respond(&id, Ok(json!({})));
            let _ = server.exit.send(Stopped::Shutdown);
        };
        // Kept outside the thread's closure so that a failed spawn can still answer here.
        let cell = Arc::new(Mutex::new(Some(finish)));
        let (in_thread, server) = (Arc::clone(&cell), Arc::clone(&self));
        let spawned = std::thread::Builder::new()
            .name("carapace-plugin-shutdown".into())
            .spawn(move || take(&in_thread).map(|finish| finish(&server)));
        if spawned.is_err() {
            if let Some(finish) = take(&cell) {
                finish(&self);
            }
        }
    }
}

fn take<T>(cell: &Mutex<Option<T>>) -> Option<T> {
    cell.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// `{tool, envelope, deadline_ms?}` -> the tool, the envelope without its
/// arguments, the arguments, and how long the core waits.
fn split_call(params: Value) -> Result<Call, JsonRpcError> {
    let invalid =
        |what: String| JsonRpcError::new(INVALID_PARAMS, format!("tool/call params: {what}"));
    let CallParams {
        tool,
        mut envelope,
        deadline_ms,
    } = serde_json::from_value(params).map_err(|e| invalid(e.to_string()))?;
    let arguments = envelope
        .get_mut("payload")
        .and_then(|payload| payload.get_mut("arguments"))
        .map(Value::take)
        .ok_or_else(|| invalid("no envelope.payload.arguments".into()))?;
    let envelope = serde_json::from_value(envelope).map_err(|e| invalid(e.to_string()))?;
    Ok(Call {
        tool,
        envelope,
        arguments,
        deadline_in: deadline_in(&deadline_ms),
    })
}

/// `deadline_ms` as a duration, at most [`MAX_DEADLINE`]. Anything but a
/// non-negative integer (absent, `null`, a string, a negative or fractional
/// number) is `None`: the deadline is advice, and a call is not refused for
/// advice it cannot read; the plugin then works as it did before the core sent any.
fn deadline_in(deadline_ms: &Value) -> Option<Duration> {
    deadline_ms
        .as_u64()
        .map(|ms| Duration::from_millis(ms).min(MAX_DEADLINE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_params(deadline_ms: Option<Value>) -> Value {
        let mut params = json!({
            "tool": "echo",
            "envelope": {"group": "main", "payload": {"arguments": {"a": 1}}},
        });
        if let Some(deadline_ms) = deadline_ms {
            params["deadline_ms"] = deadline_ms;
        }
        params
    }

    fn deadline_of(deadline_ms: Option<Value>) -> Option<Duration> {
        let call = split_call(call_params(deadline_ms)).expect("a good call");
        assert_eq!(call.tool, "echo");
        assert_eq!(call.arguments, json!({"a": 1}));
        assert_eq!(call.envelope.group, "main");
        call.deadline_in
    }

    #[test]
    fn a_deadline_the_core_sends_is_read() {
        assert_eq!(
            deadline_of(Some(json!(29_500))),
            Some(Duration::from_millis(29_500))
        );
        assert_eq!(deadline_of(Some(json!(0))), Some(Duration::ZERO));
    }

    #[test]
    fn no_deadline_is_none() {
        assert_eq!(deadline_of(None), None);
        assert_eq!(deadline_of(Some(Value::Null)), None);
    }

    #[test]
    fn a_garbage_deadline_is_none_and_the_call_still_runs() {
        for garbage in [
            json!(-1),
            json!(1.5),
            json!("30000"),
            json!([30000]),
            json!({"ms": 30000}),
            json!(true),
            json!(1e300),
        ] {
            assert_eq!(deadline_of(Some(garbage.clone())), None, "{garbage}");
        }
    }

    #[test]
    fn an_absurd_deadline_is_cut_to_a_day() {
        assert_eq!(deadline_of(Some(json!(u64::MAX))), Some(MAX_DEADLINE));
        assert_eq!(deadline_of(Some(json!(86_400_001))), Some(MAX_DEADLINE));
        // Adding it to now cannot overflow.
        assert!(Instant::now().checked_add(MAX_DEADLINE).is_some());
    }
}
