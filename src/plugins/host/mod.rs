//! Running plugins: the [`PluginHost`] and its public API; one handler process
//! per plugin, started in parallel, kept or replaced across reloads, shut down
//! together.
//!
//! The jobs live beside it: `slot` (one plugin's state), `launch` (confinement
//! and credentials at start), `config` (the plugin's checked config),
//! `supervise` (back-off restarts), `call` (tool calls, in-flight slots and
//! registry, deadlines), `hooks` (events and the memory brief), `health`
//! (`status`). Must never give the agent a plugin's stderr or a path.

mod call;
mod config;
mod health;
mod hooks;
mod launch;
mod slot;
mod supervise;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use call::CallScope;
pub(crate) use config::plugin_config as check_config;
pub use hooks::MEMORY_BRIEF_HOOK;

use super::confine::{self, ConfinementSupport};
use super::identity;
use super::process::{FromPlugin, HandlerProcess};
use super::Discovered;
use crate::config::Config;
use crate::credentials;
use crate::paths::Home;
use launch::{handler_path, launch, probe_launcher};
use slot::{fingerprint, Slot, State};
use supervise::supervise;

/// How long a handler has to exit after `shutdown`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What every slot of one host shares: where plugins live, where their
/// messages go, and what confinement this host measured.
struct Shared {
    home: Home,
    to_core: mpsc::UnboundedSender<FromPlugin>,
    handler_path: OsString,
    initialize_deadline: Duration,
    confinement: ConfinementSupport,
    /// What the launcher enforces here, measured once per host.
    launcher: confine::LauncherProbe,
    /// Each plugin's own uid/gid, when the core is root (empty otherwise).
    identities: BTreeMap<String, confine::RunAs>,
}

/// All plugins by name.
pub struct PluginHost {
    shared: Arc<Shared>,
    slots: BTreeMap<String, Arc<Slot>>,
}

impl Default for PluginHost {
    fn default() -> Self {
        let (to_core, _) = mpsc::unbounded_channel();
        PluginHost {
            shared: Arc::new(Shared {
                home: Home::at(PathBuf::from("/nonexistent")),
                to_core,
                handler_path: OsString::new(),
                initialize_deadline: Duration::from_secs(10),
                confinement: ConfinementSupport { abi: None },
                launcher: confine::LauncherProbe {
                    sockets: confine::SocketHiding::Visible("not probed".into()),
                    observed: Err("not probed".into()),
                },
                identities: BTreeMap::new(),
            }),
            slots: BTreeMap::new(),
        }
    }
}

impl PluginHost {
    /// Starts every enabled plugin in parallel; returns the host and the
    /// channel of the plugins' own requests and notifications.
    pub async fn start(
        home: &Home,
        discovered: &[Discovered],
        config: &Config,
    ) -> (PluginHost, mpsc::UnboundedReceiver<FromPlugin>) {
        Self::start_after(home, discovered, config, None, None).await
    }

    /// Like [`PluginHost::start`], but keeps the running plugins of `previous`
    /// whose manifest, folder and settings are unchanged (except `force`, which
    /// restarts). The caller then calls [`PluginHost::retire_replaced`] on `previous`.
    pub async fn start_after(
        home: &Home,
        discovered: &[Discovered],
        config: &Config,
        previous: Option<&PluginHost>,
        force: Option<&str>,
    ) -> (PluginHost, mpsc::UnboundedReceiver<FromPlugin>) {
        let (to_core, from_plugins) = mpsc::unbounded_channel();
        let base = config.core.plugin_uid_base;
        // Stable across reloads: a kept, restarted or draining plugin keeps its id, and a new
        // one is given an id no live handler has (a restart of a kept plugin reuses the old
        // `Shared`, whose id for it is the same).
        let identities = if nix::unistd::geteuid().is_root() {
            let before = previous.map(|p| &p.shared.identities);
            identity::assign_after(
                base,
                discovered.iter().map(|p| p.name.as_str()),
                before.unwrap_or(&BTreeMap::new()),
            )
        } else {
            BTreeMap::new()
        };
        let probe_as = (!identities.is_empty()).then_some(confine::RunAs {
            uid: base,
            gid: base,
        });
        let confinement = confine::probe();
        // Without Landlock too: the uid, capabilities, seccomp filter and hidden `run/` hold.
        let launcher = probe_launcher(probe_as).await;
        let shared = Arc::new(Shared {
            home: home.clone(),
            to_core,
            handler_path: handler_path(),
            initialize_deadline: Duration::from_secs(config.core.plugin_initialize_secs),
            confinement,
            launcher,
            identities,
        });
        if !shared.confinement.is_confined() {
            tracing::error!("LANDLOCK IS NOT AVAILABLE: plugins' file access is UNCONFINED");
        }
        let report = confine::enforced(shared.confinement, &shared.launcher, false, (0, 0));
        for gap in report
            .not_enforced
            .iter()
            .filter(|g| !g.contains("runs as root"))
        {
            tracing::warn!(gap = %gap, "plugin confinement is incomplete");
        }
        let mut slots = BTreeMap::new();
        for plugin in discovered {
            let settings = config.plugin_settings(&plugin.name);
            let fingerprint = fingerprint(plugin, &settings);
            let kept = previous
                .and_then(|p| p.slots.get(&plugin.name))
                .filter(|old| old.fingerprint == fingerprint && force != Some(plugin.name.as_str()))
                .filter(|old| old.process().is_some());
            if let Some(old) = kept {
                slots.insert(plugin.name.clone(), Arc::clone(old));
                continue;
            }
            // Nobody set it up (no section) and it needs something: not
            // started, and no failure; with a section it fails loudly.
            let setup = match config.plugins.settings.contains_key(&plugin.name) {
                true => None,
                false => super::unconfigured::needs(plugin, &shared.home).map(|needs| {
                    format!(
                        "not configured: it needs {needs}; add [plugins.{0}] to config.toml \
                         (or `enabled = false` there to hide it)",
                        plugin.name
                    )
                }),
            };
            let slot = Arc::new(Slot::new(plugin, &settings, fingerprint, setup));
            slots.insert(plugin.name.clone(), slot);
        }
        let startable: Vec<Arc<Slot>> = slots
            .values()
            .filter(|s| matches!(s.state.read().as_deref(), Ok(State::Stopped)))
            .cloned()
            .collect();
        let launches = startable.iter().map(|slot| {
            let shared = Arc::clone(&shared);
            let slot = Arc::clone(slot);
            async move {
                match launch(&shared, &slot).await {
                    Ok(process) => {
                        tracing::info!(plugin = %slot.plugin.name, "plugin ready");
                        slot.set(State::Running(Arc::clone(&process)));
                        tokio::spawn(supervise(shared, Arc::clone(&slot), process));
                    }
                    Err(failure) => {
                        tracing::error!(plugin = %slot.plugin.name, category = %failure.category, "plugin failed to start; its tools are left out");
                        slot.set(State::Failed(failure.category, failure.detail));
                    }
                }
            }
        });
        futures::future::join_all(launches).await;
        (PluginHost { shared, slots }, from_plugins)
    }

    /// The running process of `plugin` (to answer its requests).
    pub fn process(&self, plugin: &str) -> Option<Arc<HandlerProcess>> {
        self.slots.get(plugin)?.process()
    }

    /// Whether `plugin` declares channels (and so may publish `message.inbound`).
    pub fn is_channel(&self, plugin: &str) -> bool {
        self.slots
            .get(plugin)
            .is_some_and(|s| !s.plugin.manifest.provides.channels.is_empty())
    }

    /// Whether `plugin`'s manifest declares `capability`.
    pub fn has_capability(&self, plugin: &str, capability: super::manifest::Capability) -> bool {
        self.slots
            .get(plugin)
            .is_some_and(|s| s.plugin.manifest.capabilities.contains(&capability))
    }

    /// Shuts every plugin down in parallel: no restarts, `shutdown`, then kill after the grace.
    pub async fn shutdown(&self) {
        self.retire(|_| true, |_| false).await;
    }

    /// After a reload: shuts down this (old) host's plugins that `next` did not keep. The
    /// credentials copy of a plugin `next` started again is now its new handler's, and stays.
    pub async fn retire_replaced(&self, next: &PluginHost) {
        self.retire(
            |slot| !next.slots.values().any(|kept| Arc::ptr_eq(kept, slot)),
            |name| next.slots.contains_key(name),
        )
        .await;
    }

    async fn retire(&self, which: impl Fn(&Arc<Slot>) -> bool, restarted: impl Fn(&str) -> bool) {
        let retiring: Vec<&Arc<Slot>> = self.slots.values().filter(|s| which(s)).collect();
        for slot in &retiring {
            slot.retired.store(true, Ordering::SeqCst);
        }
        let stops = retiring.iter().filter_map(|slot| {
            let process = slot.process()?;
            let slot = Arc::clone(slot);
            Some(async move {
                process.shutdown(SHUTDOWN_GRACE).await;
                slot.set(State::Stopped);
            })
        });
        futures::future::join_all(stops).await;
        for slot in retiring.iter().filter(|s| !restarted(&s.plugin.name)) {
            let _ = credentials::remove_materialized(&self.shared.home, &slot.plugin.name);
        }
    }
}
