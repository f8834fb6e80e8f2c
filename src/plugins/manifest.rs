//! `manifest.json`: what a plugin declares about itself.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::tools::RiskLevel;

/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 10;

/// A plugin's manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What the plugin does.
    pub description: String,
    /// The plugin's own version.
    pub version: String,
    /// Semver range of Carapace versions it works with.
    #[serde(default)]
    pub app_compat: Option<String>,
    /// Tools, channels and hooks it provides.
    #[serde(default)]
    pub provides: Provides,
    /// Event topic prefixes it receives.
    #[serde(default)]
    pub subscribes: Vec<String>,
    /// Whether it may open network connections.
    #[serde(default)]
    pub network: bool,
    /// JSON Schema of its `[plugins.<name>]` config.
    #[serde(default)]
    pub config_schema: Option<Value>,
    /// Names of the secrets it needs.
    #[serde(default)]
    pub credentials: Vec<String>,
    /// The command to run: relative to the plugin folder, or on PATH.
    pub handler: HandlerCommand,
}

/// The handler command: a program, or a program and its arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HandlerCommand {
    /// Just the program.
    Program(String),
    /// Program then arguments.
    WithArgs(Vec<String>),
}

/// What a plugin provides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provides {
    /// Its tools.
    #[serde(default)]
    pub tools: Vec<ManifestTool>,
    /// Channels it serves (e.g. `telegram`).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Hooks it answers (e.g. `memory_brief`).
    #[serde(default)]
    pub hooks: Vec<String>,
}

/// One tool in a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestTool {
    /// Globally unique tool name.
    pub name: String,
    /// What it does, for the agent.
    pub description: String,
    /// `low`, `medium` or `high`.
    #[serde(default)]
    pub risk_level: RiskLevel,
    /// JSON Schema of its arguments (closed objects only).
    pub arguments_schema: Value,
    /// Sample arguments, for `carapace plugin test`.
    #[serde(default)]
    pub examples: Vec<Value>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Unreadable.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The manifest path.
        path: String,
        /// What failed.
        message: String,
    },
    /// Over the size limit.
    #[error("{path} is over {MAX_MANIFEST_BYTES} bytes")]
    TooLarge {
        /// The manifest path.
        path: String,
    },
    /// Not a valid manifest.
    #[error("{path}: {message}")]
    Invalid {
        /// The manifest path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Manifest {
    /// Reads and parses `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join("manifest.json");
        let shown = path.display().to_string();
        let meta = std::fs::metadata(&path).map_err(|e| ManifestError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { path: shown });
        }
        let text = std::fs::read(&path).map_err(|e| ManifestError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        Manifest::parse(&text, &shown)
    }

    /// Parses manifest bytes; `shown` names the file in errors.
    pub fn parse(text: &[u8], shown: &str) -> Result<Manifest, ManifestError> {
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { path: shown.into() });
        }
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| ManifestError::Invalid {
            path: shown.into(),
            message: format!("at `{}`: {}", e.path(), e.inner()),
        })
    }
}
