//! The built `carapace-plugin-memory` binary, driven over its real stdin/stdout
//! as the core drives it: JSON-RPC lines, a cleared environment, the data dir
//! as working directory. Killed on drop.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{init_params, Who};

/// How long a test waits for one line.
pub const WAIT: Duration = Duration::from_secs(20);

/// The running handler process.
pub struct Process {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<String>,
}

impl Process {
    /// Starts the binary on `data_dir`.
    pub fn start(data_dir: &Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_carapace-plugin-memory"))
            .env_clear()
            .env("HOME", data_dir)
            .current_dir(data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the memory handler starts");
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
        Process {
            child,
            stdin,
            lines,
        }
    }

    /// Starts the binary and initializes it; the answer to `initialize`.
    pub fn initialized(data_dir: &Path, config: Value) -> (Process, Value) {
        let mut process = Process::start(data_dir);
        process.request(0, "initialize", init_params(data_dir, config));
        let answer = process.answer();
        (process, answer)
    }

    /// Writes one request line.
    pub fn request(&mut self, id: u64, method: &str, params: Value) {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to the handler");
    }

    /// Sends `tool/call` for `tool` as `who`.
    pub fn call(&mut self, id: u64, who: &Who, tool: &str, arguments: Value) {
        self.request(id, "tool/call", who.call_params(tool, arguments));
    }

    /// The next answer (notifications such as `log` skipped); every line must be JSON-RPC.
    pub fn answer(&self) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .expect("a line from the handler");
            let message: Value = serde_json::from_str(&line).expect("stdout line is JSON");
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            if message.get("method").is_none() {
                return message;
            }
        }
    }

    /// `shutdown`, then waits for the process to exit; its status.
    pub fn shutdown(mut self) -> ExitStatus {
        self.request(u64::MAX >> 12, "shutdown", json!({}));
        assert_eq!(self.answer()["result"], json!({}));
        self.stdin.take();
        self.child.wait().expect("the handler exits")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
