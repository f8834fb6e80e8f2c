//! The plugin's `[plugins.memory]` config (its manifest's `config_schema`).

use carapace_plugin_sdk::{Init, InitError};
use serde::Deserialize;

/// Days a superseded entry is kept unless configured.
pub const DEFAULT_PURGE_SUPERSEDED_DAYS: u32 = 90;

/// The memory plugin's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Superseded entries older than this many days (at least 1) are deleted at start.
    #[serde(default = "default_purge_superseded_days")]
    pub purge_superseded_days: u32,
}

fn default_purge_superseded_days() -> u32 {
    DEFAULT_PURGE_SUPERSEDED_DAYS
}

impl Default for Config {
    fn default() -> Config {
        Config {
            purge_superseded_days: DEFAULT_PURGE_SUPERSEDED_DAYS,
        }
    }
}

impl Config {
    /// The config `initialize` carries; a wrong one is a `CONFIG_ERROR`.
    pub fn from_init(init: &Init) -> Result<Config, InitError> {
        let config: Config = init.config_as()?;
        if config.purge_superseded_days == 0 {
            return Err(InitError::config(
                "config: purge_superseded_days must be at least 1",
            ));
        }
        Ok(config)
    }
}
