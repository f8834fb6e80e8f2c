//! The built `carapace-plugin-echo` binary, driven over its real stdin/stdout as the core does.
//!
//! Rule: every stdout line is a JSON-RPC 2.0 object; `shutdown` and the end of
//! stdin both end the process with status 0.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// The running handler; killed if a test fails before it exits.
struct Handler {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Handler {
    /// Starts the binary the way the core does: cleared environment, data dir as cwd.
    fn start() -> Handler {
        let data_dir = std::env::temp_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_carapace-plugin-echo"))
            .env_clear()
            .env("HOME", &data_dir)
            .current_dir(&data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the echo handler starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Handler {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to the handler");
    }

    fn request(&mut self, id: u64, method: &str, params: Value) {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&message.to_string());
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
        let line = self
            .lines
            .recv_timeout(WAIT)
            .expect("a line from the handler");
        let message: Value = serde_json::from_str(&line).expect("stdout line is JSON");
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }

    /// The next answer (skipping notifications such as `log`).
    fn answer(&self) -> Value {
        loop {
            let message = self.next();
            if message.get("method").is_none() {
                return message;
            }
        }
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the handler did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    handler.send("garbage that is not json");
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
    handler.stdin.take();
    assert!(handler.wait_exit().success());
}
