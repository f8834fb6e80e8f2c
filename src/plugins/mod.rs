//! The plugin host: finds plugin folders, starts each handler as its own process, and routes calls.
//!
//! A plugin that fails to start is left out with a category; everything else
//! runs. The agent only ever sees generic `PLUGIN_*` errors; details are logged.

pub mod manifest;
pub mod process;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use carapace_ipc::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::paths::Home;
use crate::tools::{intrinsic, ToolOwner, ToolSpec};
use manifest::{HandlerCommand, Manifest};
use process::{HandlerProcess, Launch, RpcFailure, RpcOutcome};

/// How long `initialize` may take.
const INITIALIZE_DEADLINE: Duration = Duration::from_secs(10);
/// How long a handler has to exit after `shutdown`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Plugin names match `[a-z][a-z0-9_-]{0,63}`.
pub fn valid_plugin_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// A plugin's state as shown by `status` and `get_session_info`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct PluginHealth {
    /// Plugin name.
    pub name: String,
    /// `running`, `failed` or `stopped`.
    pub state: String,
    /// For a failed plugin: `NETWORK_ERROR`, `AUTH_ERROR`, `CONFIG_ERROR` or `INTERNAL_ERROR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// A discovered plugin folder.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The folder name, which is the plugin's name.
    pub name: String,
    /// The folder.
    pub folder: PathBuf,
    /// Its parsed manifest.
    pub manifest: Manifest,
}

/// Why discovery stopped startup.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Two folders with the same plugin name.
    #[error("plugin `{name}` is found twice: {first} and {second}")]
    Clash {
        /// The plugin name.
        name: String,
        /// The first folder.
        first: String,
        /// The second folder.
        second: String,
    },
    /// A bad folder name or manifest.
    #[error("{0}")]
    Invalid(String),
}

/// The plugin directories searched, in order: config dirs, the home's, the bundled ones.
pub fn search_dirs(home: &Home, configured: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = configured.to_vec();
    dirs.push(home.plugins_dir());
    if let Some(bundled) = std::env::var_os("CARAPACE_BUNDLED_PLUGINS") {
        dirs.push(PathBuf::from(bundled));
    }
    dirs
}

/// Finds every plugin folder (one holding `manifest.json`) in `dirs`.
pub fn discover(dirs: &[PathBuf]) -> Result<Vec<Discovered>, DiscoveryError> {
    let mut found: BTreeMap<String, Discovered> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("manifest.json").is_file())
            .collect();
        folders.sort();
        for folder in folders {
            let name = folder
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if !valid_plugin_name(&name) {
                return Err(DiscoveryError::Invalid(format!(
                    "{}: a plugin folder name must match [a-z][a-z0-9_-]{{0,63}}",
                    folder.display()
                )));
            }
            if let Some(existing) = found.get(&name) {
                return Err(DiscoveryError::Clash {
                    name,
                    first: existing.folder.display().to_string(),
                    second: folder.display().to_string(),
                });
            }
            let manifest =
                Manifest::load(&folder).map_err(|e| DiscoveryError::Invalid(e.to_string()))?;
            found.insert(
                name.clone(),
                Discovered {
                    name,
                    folder,
                    manifest,
                },
            );
        }
    }
    Ok(found.into_values().collect())
}

/// The tools of the discovered plugins, for the catalog; an intrinsic name is refused.
pub fn tool_specs(plugins: &[Discovered]) -> Result<Vec<ToolSpec>, DiscoveryError> {
    let mut specs = Vec::new();
    for plugin in plugins {
        for tool in &plugin.manifest.provides.tools {
            if intrinsic::NAMES.contains(&tool.name.as_str()) {
                return Err(DiscoveryError::Invalid(format!(
                    "tool `{}` is declared by both core (intrinsic) and plugin:{}",
                    tool.name, plugin.name
                )));
            }
            specs.push(ToolSpec {
                name: tool.name.clone(),
                description: tool.description.clone(),
                risk_level: tool.risk_level,
                arguments_schema: tool.arguments_schema.clone(),
                owner: ToolOwner::Plugin(plugin.name.clone()),
            });
        }
    }
    Ok(specs)
}

enum Slot {
    Running(Box<HandlerProcess>),
    Failed(String),
}

/// All plugin processes by name.
#[derive(Default)]
pub struct PluginHost {
    plugins: BTreeMap<String, Slot>,
}

impl PluginHost {
    /// Starts and initializes every discovered plugin; failures are kept, not fatal.
    pub async fn start(home: &Home, discovered: &[Discovered]) -> PluginHost {
        let mut plugins = BTreeMap::new();
        for plugin in discovered {
            let slot = match start_one(home, plugin).await {
                Ok(process) => {
                    tracing::info!(plugin = %plugin.name, "plugin ready");
                    Slot::Running(Box::new(process))
                }
                Err(category) => {
                    tracing::error!(plugin = %plugin.name, %category, "plugin failed to start; its tools are left out");
                    Slot::Failed(category)
                }
            };
            plugins.insert(plugin.name.clone(), slot);
        }
        PluginHost { plugins }
    }

    /// Names of plugins that are running (their tools go in the catalog).
    pub fn running(&self) -> Vec<String> {
        self.plugins
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Running(_)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every plugin's state.
    pub fn health(&self) -> Vec<PluginHealth> {
        self.plugins
            .iter()
            .map(|(name, slot)| match slot {
                Slot::Running(p) if p.is_alive() => PluginHealth {
                    name: name.clone(),
                    state: "running".into(),
                    category: None,
                },
                Slot::Running(_) => PluginHealth {
                    name: name.clone(),
                    state: "stopped".into(),
                    category: None,
                },
                Slot::Failed(category) => PluginHealth {
                    name: name.clone(),
                    state: "failed".into(),
                    category: Some(category.clone()),
                },
            })
            .collect()
    }

    /// Calls `tool` on `plugin` with the request envelope.
    pub async fn call(
        &self,
        plugin: &str,
        tool: &str,
        envelope: Value,
        deadline: Duration,
    ) -> Result<Value, ErrorBody> {
        let Some(Slot::Running(process)) = self.plugins.get(plugin) else {
            return Err(unavailable(plugin));
        };
        if !process.is_alive() {
            return Err(unavailable(plugin));
        }
        let params = json!({"tool": tool, "envelope": envelope});
        match process.request("tool/call", params, deadline).await {
            Ok(RpcOutcome::Result(value)) => Ok(value),
            Ok(RpcOutcome::Error(error)) => Err(tool_error(&error)),
            Err(RpcFailure::Timeout) => Err(ErrorBody::new(
                ErrorCode::PluginTimeout,
                format!("the tool did not answer within {} s", deadline.as_secs()),
            )),
            Err(RpcFailure::Broken) => Err(ErrorBody::new(
                ErrorCode::PluginError,
                "the plugin failed while handling the call",
            )),
        }
    }

    /// Shuts every plugin down in parallel.
    pub async fn shutdown(&self) {
        let stops = self.plugins.values().filter_map(|slot| match slot {
            Slot::Running(p) => Some(p.shutdown(SHUTDOWN_GRACE)),
            Slot::Failed(_) => None,
        });
        futures::future::join_all(stops).await;
    }
}

fn unavailable(plugin: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::PluginUnavailable,
        format!("plugin `{plugin}` is not running"),
    )
}

/// A JSON-RPC error from a handler becomes the tool's own error.
fn tool_error(error: &Value) -> ErrorBody {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the tool reported an error");
    let retriable = error
        .get("data")
        .and_then(|d| d.get("retriable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut body = ErrorBody::new(
        ErrorCode::HandlerError,
        message.chars().take(1000).collect::<String>(),
    );
    body.retriable = retriable;
    body
}

async fn start_one(home: &Home, plugin: &Discovered) -> Result<HandlerProcess, String> {
    let data_dir = home.plugin_data_dir(&plugin.name);
    crate::paths::create_private_dir(&data_dir).map_err(|_| "INTERNAL_ERROR".to_owned())?;
    let command = match &plugin.manifest.handler {
        HandlerCommand::Program(p) => vec![p.clone()],
        HandlerCommand::WithArgs(v) => v.clone(),
    };
    let process = HandlerProcess::spawn(Launch {
        name: &plugin.name,
        folder: &plugin.folder,
        command,
        data_dir: &data_dir,
    })
    .map_err(|e| {
        tracing::error!(plugin = %plugin.name, error = %e, "cannot start handler");
        "INTERNAL_ERROR".to_owned()
    })?;
    let params = json!({
        "plugin": plugin.name,
        "version": env!("CARGO_PKG_VERSION"),
        "config": {},
        "data_dir": data_dir,
        "credentials_dir": Value::Null,
    });
    match process
        .request("initialize", params, INITIALIZE_DEADLINE)
        .await
    {
        Ok(RpcOutcome::Result(_)) => Ok(process),
        Ok(RpcOutcome::Error(error)) => {
            process.shutdown(Duration::from_secs(1)).await;
            Err(init_category(&error))
        }
        Err(_) => {
            process.shutdown(Duration::from_secs(1)).await;
            Err("INTERNAL_ERROR".into())
        }
    }
}

fn init_category(error: &Value) -> String {
    let category = error
        .get("data")
        .and_then(|d| d.get("category"))
        .and_then(Value::as_str)
        .unwrap_or("INTERNAL_ERROR");
    match category {
        "NETWORK_ERROR" | "AUTH_ERROR" | "CONFIG_ERROR" | "INTERNAL_ERROR" => category.into(),
        _ => "INTERNAL_ERROR".into(),
    }
}
