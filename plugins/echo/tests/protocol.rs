//! The built `carapace-plugin-echo` binary, driven over its real stdin/stdout as the core does.
//!
//! Rule: every stdout line is a JSON-RPC 2.0 object; `shutdown` and the end of
//! stdin both end the process with status 0.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use carapace_plugin_sdk::testing::HandlerChild;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// The running handler (the SDK's [`HandlerChild`], with echo's calls); killed on drop.
struct Handler(HandlerChild);

impl Deref for Handler {
    type Target = HandlerChild;
    fn deref(&self) -> &HandlerChild {
        &self.0
    }
}

impl DerefMut for Handler {
    fn deref_mut(&mut self) -> &mut HandlerChild {
        &mut self.0
    }
}

impl Handler {
    /// Starts the binary the way the core does: cleared environment, data dir as cwd.
    fn start() -> Handler {
        Handler(HandlerChild::spawn(
            Path::new(env!("CARGO_BIN_EXE_carapace-plugin-echo")),
            &std::env::temp_dir(),
            Stdio::inherit(),
        ))
    }

    fn call(&mut self, id: u64, tool: &str, arguments: Value) {
        let envelope = json!({
            "id": "0b7d", "version": 1, "type": "request", "topic": format!("tool.invoke.{tool}"),
            "source": "session:s1", "correlation": "c1", "timestamp": "2026-01-01T00:00:00Z",
            "group": "main", "session": {"id": "s1", "started_at": "2026-01-01T00:00:00Z"},
            "payload": {"arguments": arguments},
        });
        self.request(id, "tool/call", json!({"tool": tool, "envelope": envelope}));
    }

    /// The next stdout line, which must be a JSON-RPC 2.0 object.
    fn next(&self) -> Value {
        self.0.next(WAIT)
    }

    /// The next answer (skipping notifications such as `log`).
    fn answer(&self) -> Value {
        self.0.answer(WAIT)
    }

    fn wait_exit(&mut self) -> ExitStatus {
        self.0.wait_exit(WAIT)
    }
}

fn initialized() -> Handler {
    let mut handler = Handler::start();
    let data_dir = std::env::temp_dir();
    handler.request(
        1,
        "initialize",
        json!({"plugin": "echo", "version": "0.1.0", "config": {}, "data_dir": data_dir, "credentials_dir": null}),
    );
    assert_eq!(
        handler.answer(),
        json!({"jsonrpc": "2.0", "id": 1, "result": {}})
    );
    handler
}

#[test]
fn echo_tools_answer_then_shutdown_exits_zero() {
    let mut handler = initialized();
    handler.call(2, "echo", json!({"text": "hello"}));
    assert_eq!(
        handler.answer(),
        json!({"jsonrpc": "2.0", "id": 2, "result": {"text": "hello"}})
    );
    handler.call(3, "echo", json!({"text": "hello", "uppercase": true}));
    assert_eq!(handler.answer()["result"], json!({"text": "HELLO"}));
    handler.call(4, "echo_sensitive", json!({"text": "approved"}));
    assert_eq!(handler.answer()["result"], json!({"text": "approved"}));
    handler.call(5, "nope", json!({}));
    assert_eq!(
        handler.answer(),
        json!({"jsonrpc": "2.0", "id": 5, "error": {"code": -32000, "message": "unknown tool `nope`",
               "data": {"code": "HANDLER_ERROR", "retriable": false}}})
    );
    handler.request(6, "hook/memory_brief", json!({"group": "main"}));
    assert_eq!(handler.answer()["error"]["code"], -32601);
    handler.request(7, "shutdown", json!({}));
    assert_eq!(
        handler.answer(),
        json!({"jsonrpc": "2.0", "id": 7, "result": {}})
    );
    assert!(handler.wait_exit().success());
}

#[test]
fn malformed_lines_are_logged_and_the_handler_keeps_answering() {
    let mut handler = initialized();
    handler.send_line("garbage that is not json");
    let log = handler.next();
    assert_eq!(log["method"], "log");
    assert_eq!(log["params"]["level"], "warn");
    handler.call(2, "echo", json!({"text": "still here"}));
    assert_eq!(handler.answer()["result"]["text"], "still here");
}

#[test]
fn pipelined_calls_each_get_their_own_id() {
    let mut handler = initialized();
    for id in 10..20 {
        handler.call(id, "echo", json!({"text": format!("n{id}")}));
    }
    let mut seen: Vec<u64> = (10..20)
        .map(|_| {
            let answer = handler.answer();
            let id = answer["id"].as_u64().expect("numeric id");
            assert_eq!(answer["result"]["text"], format!("n{id}"));
            id
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (10..20).collect::<Vec<u64>>());
}

#[test]
fn the_end_of_stdin_exits_zero() {
    let mut handler = initialized();
    handler.close_input();
    assert!(handler.wait_exit().success());
}
