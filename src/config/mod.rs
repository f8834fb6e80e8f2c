//! `config.toml`: the typed configuration, its defaults, and loading with precise errors.
//!
//! Every field has a default so an empty file works; an unknown key or a wrong
//! type is an error naming the key path and the file.

pub mod edit;
pub mod test_hooks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Daemon-wide settings.
    pub core: CoreConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Default rate limit for every group that sets none of its own.
    pub rate_limit: RateLimit,
    /// Groups by name: who may call which tools.
    pub groups: BTreeMap<String, GroupConfig>,
    /// Where plugins are found.
    pub plugins: PluginsConfig,
    /// The model proxy: provider, upstream, daily token budget (DESIGN.md §4).
    pub model: crate::model_proxy::config::ModelConfig,
    /// The container engine and the limits of agent containers.
    pub runtime: crate::runtime::config::RuntimeConfig,
    /// The agent program run in each session's container.
    pub agent: crate::agent::config::AgentConfig,
    /// OAuth2 sign-in of plugins by name (`carapace auth login --plugin P`).
    pub auth: BTreeMap<String, crate::oauth_login::LoginConfig>,
}

/// Daemon-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// `tracing` filter for the daemon's own log (e.g. `info`, `carapace=debug`).
    pub log_level: String,
    /// Deadline for one tool call at stage 6, in seconds.
    pub tool_deadline_secs: u64,
    /// How long a high-risk call waits for the user, in seconds.
    pub confirmation_timeout_secs: u64,
    /// Most sessions open at once.
    pub max_sessions: usize,
    /// How long a plugin's `initialize` may take, in seconds.
    pub plugin_initialize_secs: u64,
    /// How long one message on a session socket may take to arrive whole, in seconds.
    pub message_deadline_secs: u64,

    /// When the core runs as root: the first of the 65,536 uids/gids its plugin handlers
    /// run as, one per plugin (see `plugins::identity`).
    pub plugin_uid_base: u32,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            log_level: "info".into(),
            tool_deadline_secs: 30,
            confirmation_timeout_secs: 300,
            max_sessions: 64,
            plugin_initialize_secs: 10,
            message_deadline_secs: 10,

            plugin_uid_base: crate::plugins::identity::DEFAULT_UID_BASE,
        }
    }
}

impl CoreConfig {
    /// The longest the core can take to answer one call: the person's
    /// decision, then the tool's deadline, plus a margin for the audit writes
    /// around them. An `ipc` client that waits less could give up on a call
    /// that then runs anyway. At most one day (the longest `ipc` accepts).
    pub fn longest_call(&self) -> std::time::Duration {
        const MARGIN_SECS: u64 = 10;
        let secs = self
            .confirmation_timeout_secs
            .saturating_add(self.tool_deadline_secs)
            .saturating_add(MARGIN_SECS)
            .min(carapace_ipc::MAX_IPC_TIMEOUT_SECS);
        std::time::Duration::from_secs(secs)
    }
}

/// The audit log's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Size at which `audit.jsonl` is rotated, in bytes.
    pub rotate_bytes: u64,
    /// Most bytes all audit files may hold together; past it the oldest rotated
    /// files are removed (after a checkpoint line). At least `rotate_bytes`.
    pub max_bytes: u64,
    /// Rotated audit files older than this many days are removed (after a checkpoint line).
    pub max_age_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            rotate_bytes: 16 << 20,
            max_bytes: 1 << 30,
            max_age_days: 90,
        }
    }
}

impl AuditConfig {
    fn check(&self) -> Result<(), String> {
        if self.max_bytes < self.rotate_bytes {
            return Err(format!(
                "key `audit.max_bytes`: must be at least `audit.rotate_bytes` ({})",
                self.rotate_bytes
            ));
        }
        if !(1..=36_500).contains(&self.max_age_days) {
            return Err("key `audit.max_age_days`: must be from 1 to 36500".into());
        }
        Ok(())
    }
}

/// A token bucket: `burst` calls at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Sustained calls per minute, per session and tool.
    pub per_minute: u32,
    /// Calls allowed at once before the rate applies.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_minute: 120,
            burst: 20,
        }
    }
}

/// One group: the tools its sessions may call and its rate limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig {
    /// Glob patterns of tool names (`memory_*`, `send_telegram`, `*`).
    pub tools: Vec<String>,
    /// This group's rate limit; the top-level `rate_limit` when unset.
    pub rate_limit: Option<RateLimit>,
}

/// Where plugins come from, and each plugin's own settings (`[plugins.<name>]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginsConfig {
    /// Extra directories holding plugin folders, searched before the home's `plugins/`.
    pub dirs: Vec<PathBuf>,
    /// Settings per plugin name.
    #[serde(flatten)]
    pub settings: BTreeMap<String, PluginSettings>,
}

/// One plugin's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    /// Whether the plugin is started at all.
    pub enabled: bool,
    /// Groups that may call its tools (all groups whose patterns match, when unset).
    pub groups: Option<Vec<String>>,
    /// The capabilities its manifest declares that the person grants (e.g.
    /// `approvals`): a manifest alone grants nothing, since a plugin's update
    /// could otherwise give itself the power to approve every call.
    pub capabilities: Vec<String>,
    /// The plugin's own configuration, checked against its manifest's `config_schema`.
    pub config: toml::Table,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            enabled: true,
            groups: None,
            capabilities: Vec::new(),
            config: toml::Table::new(),
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown or of the wrong type.
    #[error("{path}: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key path.
        message: String,
    },
}

/// Group names match `[A-Za-z0-9_-]{1,64}` (they become directory names).
pub fn valid_group_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Config {
    /// Loads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| invalid(first_line(&e)))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = first_line(e.inner());
            if key == "." || key.is_empty() {
                invalid(inner)
            } else {
                invalid(format!("key `{key}`: {inner}"))
            }
        })?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// Checks what types alone cannot say.
    fn check(&self) -> Result<(), String> {
        for (name, group) in &self.groups {
            if !valid_group_name(name) {
                return Err(format!(
                    "key `groups.{name}`: a group name must match [A-Za-z0-9_-]{{1,64}}"
                ));
            }
            for (i, pattern) in group.tools.iter().enumerate() {
                globset::Glob::new(pattern).map_err(|e| {
                    format!("key `groups.{name}.tools[{i}]`: bad pattern: {}", e.kind())
                })?;
            }
            if let Some(limit) = group.rate_limit {
                check_rate(&limit, &format!("groups.{name}.rate_limit"))?;
            }
        }
        check_rate(&self.rate_limit, "rate_limit")?;
        self.audit.check()?;
        self.runtime.check()?;
        self.agent.check()?;
        for (plugin, settings) in &self.plugins.settings {
            for group in settings.groups.iter().flatten() {
                if !self.groups.contains_key(group) {
                    return Err(format!(
                        "key `plugins.{plugin}.groups`: group `{group}` is not configured"
                    ));
                }
            }
        }
        if self.core.tool_deadline_secs == 0 {
            return Err("key `core.tool_deadline_secs`: must be at least 1".into());
        }
        if self.core.plugin_initialize_secs == 0 {
            return Err("key `core.plugin_initialize_secs`: must be at least 1".into());
        }
        if self.core.message_deadline_secs == 0 {
            return Err("key `core.message_deadline_secs`: must be at least 1".into());
        }

        self.check_plugin_ids()?;
        if self.core.confirmation_timeout_secs == 0 {
            return Err("key `core.confirmation_timeout_secs`: must be at least 1".into());
        }
        Ok(())
    }

    /// The plugins' id range: unprivileged, below 2^31, clear of the agent's ids.
    fn check_plugin_ids(&self) -> Result<(), String> {
        let base = u64::from(self.core.plugin_uid_base);
        let range = base..base + u64::from(crate::plugins::identity::ID_RANGE);
        let key = "key `core.plugin_uid_base`";
        if base < 1000 || range.end > 1 << 31 {
            return Err(format!(
                "{key}: must be at least 1000 and leave {} ids below 2^31",
                crate::plugins::identity::ID_RANGE
            ));
        }
        let agent = [self.runtime.agent_uid, self.runtime.agent_gid];
        if agent.iter().any(|id| range.contains(&u64::from(*id))) {
            return Err(format!(
                "{key}: the plugins' range {}..{} holds the agent's uid or gid",
                range.start, range.end
            ));
        }
        Ok(())
    }

    /// The settings of `plugin` (defaults when it has none).
    pub fn plugin_settings(&self, plugin: &str) -> PluginSettings {
        self.plugins
            .settings
            .get(plugin)
            .cloned()
            .unwrap_or_default()
    }

    /// The rate limit that applies to `group`.
    pub fn rate_limit_for(&self, group: &str) -> RateLimit {
        self.groups
            .get(group)
            .and_then(|g| g.rate_limit)
            .unwrap_or(self.rate_limit)
    }
}

fn check_rate(limit: &RateLimit, key: &str) -> Result<(), String> {
    if limit.per_minute == 0 || limit.burst == 0 {
        return Err(format!(
            "key `{key}`: per_minute and burst must be at least 1"
        ));
    }
    Ok(())
}

fn first_line(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/home/u/.carapace/config.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_longest_call_covers_the_approval_and_the_deadline_and_never_overflows() {
        let mut core = CoreConfig::default();
        assert_eq!(
            core.longest_call(),
            std::time::Duration::from_secs(300 + 30 + 10)
        );
        core.confirmation_timeout_secs = u64::MAX;
        assert_eq!(core.longest_call(), std::time::Duration::from_secs(86_400));
    }

    #[test]
    fn the_plugins_id_range_is_unprivileged_and_clear_of_the_agent() {
        assert!(parse("[core]\nplugin_uid_base = 300000\n").is_ok());
        for bad in ["0", "999", "2147483000"] {
            let error = parse(&format!("[core]\nplugin_uid_base = {bad}\n")).expect_err(bad);
            assert!(error.contains("core.plugin_uid_base"), "{error}");
        }
        let error = parse("[core]\nplugin_uid_base = 99000\n").expect_err("agent inside");
        assert!(error.contains("agent"), "{error}");
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(parse("").expect("empty is fine"), Config::default());
    }

    #[test]
    fn unknown_keys_are_named_with_their_path_and_the_file() {
        let err = parse("[groups.main]\ntols = [\"*\"]\n").expect_err("typo");
        assert!(err.contains("/home/u/.carapace/config.toml"), "{err}");
        assert!(err.contains("groups.main"), "{err}");
        assert!(err.contains("tols"), "{err}");
        let err = parse("[core]\ntool_deadline_secs = \"ten\"\n").expect_err("type");
        assert!(err.contains("core.tool_deadline_secs"), "{err}");
    }

    #[test]
    fn bad_group_names_patterns_and_limits_are_refused() {
        assert!(parse("[groups.\"../etc\"]\ntools = []\n").is_err());
        assert!(parse("[groups.g]\ntools = [\"[\"]\n")
            .expect_err("glob")
            .contains("groups.g.tools[0]"));
        assert!(parse("[rate_limit]\nper_minute = 0\n").is_err());
    }

    #[test]
    fn plugin_settings_are_read_and_checked() {
        let config = parse(
            "[groups.main]\ntools=[\"*\"]\n[plugins]\ndirs=[\"/x\"]\n[plugins.mail]\nenabled=false\ngroups=[\"main\"]\nconfig={host=\"imap.example\"}\n",
        )
        .expect("valid");
        let mail = config.plugin_settings("mail");
        assert!(!mail.enabled);
        assert_eq!(
            mail.config.get("host").and_then(|v| v.as_str()),
            Some("imap.example")
        );
        assert!(config.plugin_settings("other").enabled);
        assert!(parse("[plugins.mail]\ngroups=[\"nobody\"]\n").is_err());
        let typo = parse("[plugins.mail]\nenabeld=true\n").expect_err("typo");
        assert!(typo.contains("enabeld"), "{typo}");
    }

    #[test]
    fn group_rate_limit_overrides_the_default() {
        let config =
            parse("[groups.a]\ntools=[\"*\"]\nrate_limit={per_minute=1,burst=2}\n[groups.b]\n")
                .expect("valid");
        assert_eq!(config.rate_limit_for("a").burst, 2);
        assert_eq!(config.rate_limit_for("b"), RateLimit::default());
    }
}
