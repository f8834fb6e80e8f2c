//! `[plugins.scheduler.config]`: bounds, the tasks the person declares, and
//! the test hooks.
//!
//! Only the person writes `config.toml`; nothing here is reachable from a tool's
//! arguments. The test hooks (`test_clock`, `test_hold_after_record_ms`,
//! `test_hold_after_ack_ms`) exist
//! for the test suite: `test_clock` makes the plugin read "now" from the file
//! `clock` in its own data dir, which no agent can reach (it is outside every
//! container, and only this plugin's uid may write it).

use carapace_plugin_sdk::{Init, InitError};
use serde::Deserialize;

use crate::misfire::Misfire;

/// Default of `max_catch_up`.
pub const DEFAULT_MAX_CATCH_UP: u32 = 10;
/// Default of `max_catch_up_per_group`.
pub const DEFAULT_MAX_CATCH_UP_PER_GROUP: u32 = 20;
/// Default of `misfire_grace_secs`.
pub const DEFAULT_GRACE_SECS: u32 = 60;
/// Default of `max_tasks_per_group`.
pub const DEFAULT_MAX_TASKS: u32 = 100;

/// The plugin's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Most late slots a `run_all` task fires after downtime.
    #[serde(default = "default_max_catch_up")]
    pub max_catch_up: u32,
    /// Most late slots one group's tasks fire together in one catch-up.
    #[serde(default = "default_max_catch_up_per_group")]
    pub max_catch_up_per_group: u32,
    /// How late a slot may fire and still count as on time.
    #[serde(default = "default_grace")]
    pub misfire_grace_secs: u32,
    /// Most tasks the agent may keep per group (config tasks not counted).
    #[serde(default = "default_max_tasks")]
    pub max_tasks_per_group: u32,
    /// Tasks the person declares (read-only to the agent).
    #[serde(default)]
    pub tasks: Vec<ConfigTask>,
    /// Test hook: read "now" from `<data_dir>/clock` (RFC 3339) instead of the system clock.
    #[serde(default)]
    pub test_clock: bool,
    /// Test hook: wait this long between recording a fire and publishing it.
    #[serde(default)]
    pub test_hold_after_record_ms: u32,
    /// Test hook: wait this long between the core's answer to a fire and marking it.
    #[serde(default)]
    pub test_hold_after_ack_ms: u32,
}

/// A task declared in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigTask {
    /// Its name: the task's id is `config:<name>`.
    pub name: String,
    /// The group whose session it starts.
    pub group: String,
    /// A 5-field cron pattern (or `at`).
    #[serde(default)]
    pub cron: Option<String>,
    /// One instant (or `cron`).
    #[serde(default)]
    pub at: Option<String>,
    /// The IANA zone (default UTC).
    #[serde(default = "default_tz")]
    pub tz: String,
    /// The prompt the session gets.
    pub prompt: String,
    /// What to do with slots missed while down.
    #[serde(default)]
    pub misfire: Misfire,
}

fn default_max_catch_up() -> u32 {
    DEFAULT_MAX_CATCH_UP
}
fn default_max_catch_up_per_group() -> u32 {
    DEFAULT_MAX_CATCH_UP_PER_GROUP
}
fn default_grace() -> u32 {
    DEFAULT_GRACE_SECS
}
fn default_max_tasks() -> u32 {
    DEFAULT_MAX_TASKS
}
fn default_tz() -> String {
    "UTC".into()
}

impl Config {
    /// The config `initialize` was handed.
    pub fn from_init(init: &Init) -> Result<Config, InitError> {
        init.config_as()
    }

    /// The test hooks that are on, by name (none in production).
    pub fn test_hooks(&self) -> Vec<&'static str> {
        [
            ("test_clock", self.test_clock),
            (
                "test_hold_after_record_ms",
                self.test_hold_after_record_ms > 0,
            ),
            ("test_hold_after_ack_ms", self.test_hold_after_ack_ms > 0),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_catch_up: DEFAULT_MAX_CATCH_UP,
            max_catch_up_per_group: DEFAULT_MAX_CATCH_UP_PER_GROUP,
            misfire_grace_secs: DEFAULT_GRACE_SECS,
            max_tasks_per_group: DEFAULT_MAX_TASKS,
            tasks: Vec::new(),
            test_clock: false,
            test_hold_after_record_ms: 0,
            test_hold_after_ack_ms: 0,
        }
    }
}
