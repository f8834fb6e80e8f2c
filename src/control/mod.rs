//! The control socket `run/control.sock` (0600): how the CLI talks to a running core.
//!
//! One JSON request line, one JSON response line. Only the core's own user
//! (or root) may connect; every peer is checked with `SO_PEERCRED`.

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest request line accepted.
pub const MAX_REQUEST_BYTES: usize = 64 << 10;

/// A request from the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlRequest {
    /// The core's state.
    Status,
    /// Drain and stop.
    Stop,
    /// Open a session for a group, without a container.
    SessionOpen {
        /// The configured group.
        group: String,
    },
    /// Close a session.
    SessionClose {
        /// Session id.
        id: String,
    },
    /// List open sessions.
    Sessions,
    /// Stop an agent session, or close a session without a container.
    StopSession {
        /// Session id.
        id: String,
    },
    /// Re-read config.toml and the plugins; restart changed plugins (and `plugin`).
    Reload {
        /// A plugin to restart even if unchanged.
        #[serde(default)]
        plugin: Option<String>,
    },
    /// The credential store changed (`auth set|rm`): reload the values redacted everywhere.
    SecretsChanged,
    /// List pending high-risk calls.
    ConfirmList,
    /// Approve or deny a pending call.
    ConfirmDecide {
        /// The confirmation id.
        id: String,
        /// True to approve, false to deny.
        approve: bool,
    },
    /// Run one agent session for a group with a prompt; answers when it ends.
    Prompt {
        /// The configured group.
        group: String,
        /// The prompt.
        text: String,
    },
}

/// The core's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResponse {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The answer's data.
    #[serde(default)]
    pub data: Value,
    /// What went wrong, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set on the lines a long request streams before its answer (`prompt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Value>,
}

impl ControlResponse {
    /// A success.
    pub fn ok(data: Value) -> ControlResponse {
        ControlResponse {
            ok: true,
            data,
            error: None,
            progress: None,
        }
    }

    /// A failure.
    pub fn fail(message: impl Into<String>) -> ControlResponse {
        ControlResponse {
            ok: false,
            data: Value::Null,
            error: Some(message.into()),
            progress: None,
        }
    }

    /// A progress line before the answer.
    pub fn progress(progress: Value) -> ControlResponse {
        ControlResponse {
            ok: true,
            data: Value::Null,
            error: None,
            progress: Some(progress),
        }
    }
}
