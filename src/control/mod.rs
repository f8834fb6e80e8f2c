//! The control socket `run/control.sock` (0600): how the CLI talks to a running core.
//!
//! One JSON request line, one JSON response line. Only the core's own user
//! (or root) may connect; every peer is checked with `SO_PEERCRED`.

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::session::Trust;

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
        /// The trust the person at the host declares for it (`unknown` when absent:
        /// whoever is handed the socket is not known to be the person).
        #[serde(default = "unknown")]
        trust: Trust,
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
    /// One pending call with its exact (unredacted) arguments, for the person at the host.
    ConfirmShow {
        /// The confirmation id.
        id: String,
    },
    /// Approve or deny a pending call.
    ConfirmDecide {
        /// The confirmation id.
        id: String,
        /// True to approve, false to deny.
        approve: bool,
    },
    /// Pause a group (the kill switch): stop its sessions, deny its pending
    /// calls, start nothing for it until it is resumed; persisted.
    Pause {
        /// The configured group.
        group: String,
    },
    /// Resume a paused group.
    Resume {
        /// The group.
        group: String,
    },
    /// Today's model tokens per group and task, with the caps in force.
    Budget,
    /// Raise a group's (or a task's) daily cap for the rest of the UTC day.
    BudgetExtend {
        /// The configured group.
        group: String,
        /// A task of the group, or none for the group itself.
        #[serde(default)]
        task: Option<String>,
        /// Tokens to allow.
        tokens: u64,
    },
    /// Run one agent session for a group with a prompt; answers when it ends.
    Prompt {
        /// The configured group.
        group: String,
        /// The prompt.
        text: String,
    },
}

/// What an older client's `session_open` (without `trust`) gets.
fn unknown() -> Trust {
    Trust::Unknown
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_open_without_trust_is_unknown_and_a_bad_trust_is_refused() {
        let old: ControlRequest =
            serde_json::from_str(r#"{"op":"session_open","group":"main"}"#).expect("parses");
        assert_eq!(
            old,
            ControlRequest::SessionOpen {
                group: "main".into(),
                trust: Trust::Unknown
            }
        );
        let owner: ControlRequest =
            serde_json::from_str(r#"{"op":"session_open","group":"main","trust":"owner"}"#)
                .expect("parses");
        assert!(matches!(
            owner,
            ControlRequest::SessionOpen {
                trust: Trust::Owner,
                ..
            }
        ));
        for bad in [r#""admin""#, r#""Owner""#, "1", "null"] {
            let line = format!(r#"{{"op":"session_open","group":"main","trust":{bad}}}"#);
            assert!(
                serde_json::from_str::<ControlRequest>(&line).is_err(),
                "{line}"
            );
        }
    }
}
