//! One plugin's slot: what it was started from, its state, its in-flight calls.
//!
//! A slot is built once per plugin per (re)load and kept across reloads while
//! its fingerprint holds. Must never start a process itself (that is `launch`)
//! nor decide on restarts (that is `supervise`).

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;

use super::call::{CallScope, MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_SESSION};
use super::config::plugin_config;
use crate::config::PluginSettings;
use crate::plugins::fair_share::FairShare;
use crate::plugins::process::HandlerProcess;
use crate::plugins::Discovered;

/// What a slot's handler is doing.
pub(super) enum State {
    Running(Arc<HandlerProcess>),
    Restarting {
        attempt: u32,
    },
    /// The closed category, and the handler's own words when it refused `initialize`.
    Failed(String, Option<String>),
    Disabled,
    /// Needs setup nobody has done (no `[plugins.<name>]` section, and config
    /// keys it requires or credentials it needs): not started, and no failure.
    NotConfigured,
    Stopped,
}

/// One plugin as the host holds it.
pub(super) struct Slot {
    pub(super) plugin: Discovered,
    /// What the slot was started from (manifest bytes, folder, settings): a reload
    /// keeps a running slot whose fingerprint did not change.
    pub(super) fingerprint: String,
    /// Set when the slot is shut down or replaced: its supervisor stops restarting.
    pub(super) retired: AtomicBool,
    pub(super) config: Value,
    /// Why the plugin was refused before it ran, for `status`.
    pub(super) problem: Option<String>,
    pub(super) state: RwLock<State>,
    pub(super) slots: FairShare,
    pub(super) in_flight: Mutex<HashMap<u64, CallScope>>,
}

impl Slot {
    /// A slot for `plugin` with `settings`: stopped (to be started), disabled,
    /// not configured (`setup` says what it lacks), or failed with
    /// `CONFIG_ERROR` when its folder or its config is refused.
    pub(super) fn new(
        plugin: &Discovered,
        settings: &PluginSettings,
        fingerprint: String,
        setup: Option<String>,
    ) -> Slot {
        let checked = plugin
            .manifest
            .check_compat(env!("CARGO_PKG_VERSION"))
            .and_then(|()| plugin_config(plugin, &settings.config));
        let (config_value, state) = match checked {
            _ if !settings.enabled => (Value::Null, State::Disabled),
            // A link or an oversize file in its folder: never started, shown as failed.
            _ if plugin.refused.is_some() => {
                (Value::Null, State::Failed("CONFIG_ERROR".into(), None))
            }
            _ if setup.is_some() => (Value::Null, State::NotConfigured),
            Ok(value) => (value, State::Stopped),
            Err(problem) => {
                tracing::error!(plugin = %plugin.name, %problem, "plugin left out");
                (Value::Null, State::Failed("CONFIG_ERROR".into(), None))
            }
        };
        Slot {
            plugin: plugin.clone(),
            fingerprint,
            retired: AtomicBool::new(false),
            config: config_value,
            problem: plugin.refused.clone().or(setup),
            state: RwLock::new(state),
            slots: FairShare::new(MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_SESSION),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the state.
    pub(super) fn set(&self, state: State) {
        if let Ok(mut current) = self.state.write() {
            *current = state;
        }
    }

    /// The handler, while it runs and answers.
    pub(super) fn process(&self) -> Option<Arc<HandlerProcess>> {
        match &*self.state.read().ok()? {
            State::Running(process) if process.is_alive() => Some(Arc::clone(process)),
            _ => None,
        }
    }
}

/// Hash of what a plugin slot is started from (the manifest as discovery read it).
pub(super) fn fingerprint(plugin: &Discovered, settings: &PluginSettings) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(plugin.folder.as_os_str().as_encoded_bytes());
    hash.update(plugin.manifest_digest.as_bytes());
    hash.update(plugin.refused.as_deref().unwrap_or_default());
    hash.update(serde_json::to_vec(settings).unwrap_or_default());
    hex::encode(hash.finalize())
}
