//! The plugin host: finds plugin folders, starts each handler as its own process, and routes calls.
//!
//! A plugin that fails to start is left out with a category; everything else
//! runs. The agent only ever sees generic `PLUGIN_*` errors; details are logged.

pub mod authoring;
pub mod confine;
pub mod discover;
pub mod fair_share;
pub mod folder;
pub mod host;
pub mod identity;
pub mod manifest;
pub mod process;
pub mod reserved;
mod unconfigured;

use serde::{Deserialize, Serialize};

pub use discover::{discover, search_dirs, tool_specs, Discovered, DiscoveryError};
pub use host::PluginHost;
pub use reserved::{reserved_reason, valid_plugin_name};

/// A plugin's state as shown by `status` and `get_session_info`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginHealth {
    /// Plugin name.
    pub name: String,
    /// `running`, `restarting`, `failed`, `disabled` or `stopped`.
    pub state: String,
    /// What its manifest lets it ask of the core (`approvals`, `kill_switch`, `budgets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<manifest::Capability>,
    /// For a failed plugin: `NETWORK_ERROR`, `AUTH_ERROR`, `CONFIG_ERROR` or `INTERNAL_ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// How many restarts in a row have been tried, while restarting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_attempt: Option<u32>,
    /// `confined (landlock ABI 7, sockets hidden, seccomp: AF_UNIX only, no capabilities,
    /// uid N)`, or `UNCONFINED (no landlock, ...)`, for a plugin that runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confinement: Option<String>,
    /// Exactly what is and is not enforced for it on this kernel, for a plugin that runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<confine::Enforced>,
    /// Why a failed plugin was refused before it ran (e.g. a skill that is a link), naming the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl PluginHealth {
    /// The state as the agent and the event bus see it: `problem` names host paths, so it
    /// is for the owner only (`status`, `doctor`).
    pub fn without_problem(self) -> PluginHealth {
        PluginHealth {
            problem: None,
            ..self
        }
    }
}
