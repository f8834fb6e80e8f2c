//! The built `carapace-plugin-memory` binary, driven over its real stdin/stdout
//! as the core drives it: JSON-RPC lines, a cleared environment, the data dir
//! as working directory. Killed on drop.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use carapace_plugin_sdk::testing::HandlerChild;
use serde_json::{json, Value};

use super::{init_params, Who};

/// How long a test waits for one line.
pub const WAIT: Duration = Duration::from_secs(20);

/// The running handler process (the SDK's [`HandlerChild`], with memory's calls).
pub struct Process(HandlerChild);

impl Deref for Process {
    type Target = HandlerChild;
    fn deref(&self) -> &HandlerChild {
        &self.0
    }
}

impl DerefMut for Process {
    fn deref_mut(&mut self) -> &mut HandlerChild {
        &mut self.0
    }
}

impl Process {
    /// Starts the binary on `data_dir`.
    pub fn start(data_dir: &Path) -> Process {
        Process(HandlerChild::spawn(
            Path::new(env!("CARGO_BIN_EXE_carapace-plugin-memory")),
            data_dir,
            Stdio::null(),
        ))
    }

    /// Starts the binary and initializes it; the answer to `initialize`.
    pub fn initialized(data_dir: &Path, config: Value) -> (Process, Value) {
        let mut process = Process::start(data_dir);
        process.request(0, "initialize", init_params(data_dir, config));
        let answer = process.answer();
        (process, answer)
    }

    /// Sends `tool/call` for `tool` as `who`.
    pub fn call(&mut self, id: u64, who: &Who, tool: &str, arguments: Value) {
        self.request(id, "tool/call", who.call_params(tool, arguments));
    }

    /// The next answer (notifications such as `log` skipped); every line must be JSON-RPC.
    pub fn answer(&self) -> Value {
        self.0.answer(WAIT)
    }

    /// `shutdown`, then waits for the process to exit; its status.
    pub fn shutdown(mut self) -> ExitStatus {
        self.request(u64::MAX >> 12, "shutdown", json!({}));
        assert_eq!(self.answer()["result"], json!({}));
        self.close_input();
        self.child.wait().expect("the handler exits")
    }
}
