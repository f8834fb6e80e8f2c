//! A built handler binary run as the core runs it, for a plugin's own tests:
//! a cleared environment, the data dir as working directory and `HOME`, JSON-RPC
//! lines on its real stdin and stdout. Killed on drop. (The in-process
//! [`Harness`](crate::testing::Harness) tests the protocol; this tests the binary.)

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running handler binary. Test code: it panics on what a test must not see.
pub struct HandlerChild {
    /// The process (to kill it, or wait for it).
    pub child: Child,
    /// Its stdin, until [`HandlerChild::close_input`] (or a test) takes it.
    pub stdin: Option<ChildStdin>,
    /// Its stdout, a line at a time.
    pub lines: mpsc::Receiver<String>,
}

impl HandlerChild {
    /// Starts `program` on `data_dir`; its stderr goes to `stderr`.
    pub fn spawn(program: &Path, data_dir: &Path, stderr: Stdio) -> HandlerChild {
        let mut child = Command::new(program)
            .env_clear()
            .env("HOME", data_dir)
            .current_dir(data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the handler starts");
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
        HandlerChild {
            child,
            stdin,
            lines,
        }
    }

    /// Writes one line to the handler's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to the handler");
    }

    /// Writes one JSON-RPC request.
    pub fn request(&mut self, id: u64, method: &str, params: Value) {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(&message.to_string());
    }

    /// The next stdout line within `wait`, which must be a JSON-RPC 2.0 object.
    pub fn next(&self, wait: Duration) -> Value {
        let line = self
            .lines
            .recv_timeout(wait)
            .expect("a line from the handler");
        let message: Value = serde_json::from_str(&line).expect("stdout line is JSON");
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }

    /// The next answer within `wait` each, skipping notifications such as `log`.
    pub fn answer(&self, wait: Duration) -> Value {
        loop {
            let message = self.next(wait);
            if message.get("method").is_none() {
                return message;
            }
        }
    }

    /// Closes the handler's stdin (the core went away).
    pub fn close_input(&mut self) {
        self.stdin.take();
    }

    /// Waits up to `wait` for the process to exit.
    pub fn wait_exit(&mut self, wait: Duration) -> ExitStatus {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the handler did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for HandlerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
