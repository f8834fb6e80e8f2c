//! The plugin's side of the connection: one writer for whole lines, and plugin -> core
//! requests waiting for their answers.
//!
//! Must never write anything to stdout but whole JSON-RPC lines under the limit
//! the core accepts.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{CoreError, JsonRpcError, ToolError};
use crate::wire::MAX_OUTPUT_LINE_BYTES;

/// How long [`CoreLink::request`] waits for the core by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest `log` message sent; a longer one is cut.
pub const MAX_LOG_MESSAGE_BYTES: usize = 16 << 10;

type Answer = Result<Value, JsonRpcError>;

/// Severity of a `log` notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd, handled.
    Warn,
    /// Something failed.
    Error,
}

struct Pending {
    waiters: HashMap<u64, mpsc::Sender<Answer>>,
    closed: bool,
}

/// The shared connection state behind every [`CoreLink`].
pub(crate) struct Peer {
    writer: Mutex<Box<dyn Write + Send>>,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
}

impl Peer {
    /// Wraps the output stream.
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> Peer {
        Peer {
            writer: Mutex::new(writer),
            pending: Mutex::new(Pending {
                waiters: HashMap::new(),
                closed: false,
            }),
            next_id: AtomicU64::new(1),
        }
    }

    /// Writes one message as one line, or nothing if it is over the limit.
    fn write(&self, message: &Value) -> Result<(), CoreError> {
        // Serializing a `Value` cannot fail (its keys are strings); the error arm is unreachable.
        let mut line = serde_json::to_vec(message).map_err(|_| CoreError::Disconnected)?;
        if line.len() >= MAX_OUTPUT_LINE_BYTES {
            return Err(CoreError::TooLarge(line.len()));
        }
        line.push(b'\n');
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer
            .write_all(&line)
            .and_then(|()| writer.flush())
            .map_err(|_| CoreError::Disconnected)
    }

    /// Answers the core's request `id`; a result over the line limit becomes a tool error.
    pub(crate) fn respond(&self, id: &Value, answer: Answer) {
        let message = answer_message(id, answer);
        if let Err(CoreError::TooLarge(bytes)) = self.write(&message) {
            let error = ToolError::new(format!(
                "the result is {bytes} bytes; a plugin answer must stay under {MAX_OUTPUT_LINE_BYTES}"
            ));
            let _ = self.write(&answer_message(id, Err(error.into())));
        }
    }

    /// Routes an answer from the core to the request waiting for it; false if none is.
    pub(crate) fn route(&self, id: &Value, answer: Answer) -> bool {
        let Some(id) = id.as_u64() else {
            return false;
        };
        let waiter = self.lock_pending().waiters.remove(&id);
        waiter.is_some_and(|waiter| waiter.send(answer).is_ok())
    }

    /// The core went away: every waiting request fails, and new ones fail at once.
    pub(crate) fn close(&self) {
        let mut pending = self.lock_pending();
        pending.closed = true;
        pending.waiters.clear();
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn answer_message(id: &Value, answer: Answer) -> Value {
    match answer {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    }
}

/// A handle for talking to the core: `log`, `event/publish` and plugin -> core requests.
///
/// Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct CoreLink {
    pub(crate) peer: Arc<Peer>,
}

impl CoreLink {
    /// Whether the connection to the core is closed (its input ended): a background
    /// loop started in [`Plugin::started`](crate::Plugin::started) should then stop.
    pub fn is_closed(&self) -> bool {
        self.peer.lock_pending().closed
    }

    /// Sends a `log` notification (best effort; the message is cut at [`MAX_LOG_MESSAGE_BYTES`]).
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        let message = cut(message.as_ref(), MAX_LOG_MESSAGE_BYTES);
        let _ = self.notify("log", json!({"level": level, "message": message}));
    }

    /// Sends an `event/publish` notification (e.g. topic `message.inbound` for a
    /// channel plugin): written, not acknowledged; see [`CoreLink::publish_acked`].
    pub fn publish(&self, topic: &str, group: &str, payload: Value) -> Result<(), CoreError> {
        self.notify(
            "event/publish",
            json!({"topic": topic, "group": group, "payload": payload}),
        )
    }

    /// Sends `event/publish` as a request and waits (at most
    /// [`DEFAULT_REQUEST_TIMEOUT`]) until the core has accepted the event: `Ok`
    /// once it is published and, for a topic that starts a session, that
    /// session is queued (for `task.triggered`: its `fire_id` is on the core's
    /// disk). A refusal is [`CoreError::Rejected`] whose `data.code` says why:
    /// `NOT_ALLOWED` (not published at all), or the session's refusal
    /// (`GROUP_PAUSED` with `data.generation`, `FIRE_TAKEN`, `NO_FIRE_ID`,
    /// `NO_TASK_ID`, `NO_PROMPT`), or the per-plugin limits (`BUSY`,
    /// `RATE_LIMITED`: try again later). [`CoreError::Timeout`] or
    /// [`CoreError::Disconnected`] leave it unknown whether the core has it:
    /// publish it again later (the core takes each `fire_id` once).
    pub fn publish_acked(&self, topic: &str, group: &str, payload: Value) -> Result<(), CoreError> {
        self.request(
            "event/publish",
            json!({"topic": topic, "group": group, "payload": payload}),
        )
        .map(drop)
    }

    /// Writes a line of this plugin's own into the core's audit log (`audit/record`):
    /// kind `<plugin>.<kind>` with at most 8 plain fields (`[a-z][a-z0-9_]*` names;
    /// null, boolean, number or string values, strings cut to 128 characters). The
    /// core writes the first of each kind in a 10 s window in full and counts the rest.
    pub fn record(&self, kind: &str, fields: Value) -> Result<(), CoreError> {
        self.notify("audit/record", json!({"kind": kind, "fields": fields}))
    }

    /// Sends any notification.
    pub fn notify(&self, method: &str, params: Value) -> Result<(), CoreError> {
        self.peer
            .write(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// Sends a request to the core and blocks until its answer, or [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn request(&self, method: &str, params: Value) -> Result<Value, CoreError> {
        self.request_with_timeout(method, params, DEFAULT_REQUEST_TIMEOUT)
    }

    /// Sends a request to the core and blocks until its answer or `timeout`.
    pub fn request_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CoreError> {
        let id = self.peer.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, wait) = mpsc::channel();
        {
            let mut pending = self.peer.lock_pending();
            if pending.closed {
                return Err(CoreError::Disconnected);
            }
            pending.waiters.insert(id, answer);
        }
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if let Err(error) = self.peer.write(&message) {
            self.peer.lock_pending().waiters.remove(&id);
            return Err(error);
        }
        match wait.recv_timeout(timeout) {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(CoreError::Rejected(error)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.peer.lock_pending().waiters.remove(&id);
                Err(CoreError::Timeout(timeout))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(CoreError::Disconnected),
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cutting_respects_characters() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }
}
