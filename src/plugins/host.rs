//! Running plugins: one handler process each, restarted with back-off when it dies.
//!
//! Calls are bounded per plugin and per session (a [`FairShare`] of in-flight
//! slots, served round-robin across sessions) and by a deadline; the
//! in-flight registry is what scopes a plugin's `services/*` requests to the
//! group of a call it is handling. Must never give the agent a plugin's stderr.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::refusal::Refusal;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::confine::{self, ConfinementSupport};
use super::fair_share::FairShare;

use super::identity;
use super::manifest::HandlerCommand;
use super::process::{FromPlugin, HandlerProcess, Launch, RpcFailure, RpcOutcome};
use super::{Discovered, PluginHealth};
use crate::config::Config;
use crate::credentials;
use crate::paths::Home;

/// How long a handler has to exit after `shutdown`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Calls one plugin may have in flight at once; more wait for a slot.
const MAX_IN_FLIGHT: usize = 32;
/// Of those, calls one session may have in flight at once: a quarter, so that
/// one session never holds a plugin alone.
const MAX_IN_FLIGHT_PER_SESSION: usize = 8;
/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A handler that stayed up this long starts its back-off afresh when it dies.
const STABLE_UPTIME: Duration = Duration::from_secs(60);

/// Whose call a plugin is handling: the scope of its `services/*` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallScope {
    /// The calling session.
    pub session: String,
    /// That session's group.
    pub group: String,
}

enum State {
    Running(Arc<HandlerProcess>),
    Restarting { attempt: u32 },
    Failed(String),
    Disabled,
    Stopped,
}

struct Slot {
    plugin: Discovered,
    /// What the slot was started from (manifest bytes, folder, settings): a reload
    /// keeps a running slot whose fingerprint did not change.
    fingerprint: String,
    /// Set when the slot is shut down or replaced: its supervisor stops restarting.
    retired: AtomicBool,
    config: Value,
    /// Why the plugin was refused before it ran, for `status`.
    problem: Option<String>,
    state: RwLock<State>,
    slots: FairShare,
    in_flight: Mutex<HashMap<u64, CallScope>>,
}

impl Slot {
    fn set(&self, state: State) {
        if let Ok(mut current) = self.state.write() {
            *current = state;
        }
    }

    fn process(&self) -> Option<Arc<HandlerProcess>> {
        match &*self.state.read().ok()? {
            State::Running(process) if process.is_alive() => Some(Arc::clone(process)),
            _ => None,
        }
    }
}

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
            let checked = plugin
                .manifest
                .check_compat(env!("CARGO_PKG_VERSION"))
                .and_then(|()| plugin_config(plugin, &settings.config));
            let (config_value, state) = match checked {
                _ if !settings.enabled => (Value::Null, State::Disabled),
                // A link or an oversize file in its folder: never started, shown as failed.
                _ if plugin.refused.is_some() => {
                    (Value::Null, State::Failed("CONFIG_ERROR".into()))
                }
                Ok(value) => (value, State::Stopped),
                Err(problem) => {
                    tracing::error!(plugin = %plugin.name, %problem, "plugin left out");
                    (Value::Null, State::Failed("CONFIG_ERROR".into()))
                }
            };
            let slot = Arc::new(Slot {
                plugin: plugin.clone(),
                fingerprint,
                retired: AtomicBool::new(false),
                config: config_value,
                problem: plugin.refused.clone(),
                state: RwLock::new(state),
                slots: FairShare::new(MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_SESSION),
                in_flight: Mutex::new(HashMap::new()),
            });
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
                    Err(category) => {
                        tracing::error!(plugin = %slot.plugin.name, %category, "plugin failed to start; its tools are left out");
                        slot.set(State::Failed(category));
                    }
                }
            }
        });
        futures::future::join_all(launches).await;
        (PluginHost { shared, slots }, from_plugins)
    }

    /// Names of plugins whose tools belong in the catalog (running or restarting).
    pub fn running(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s.state.read().as_deref(),
                    Ok(State::Running(_) | State::Restarting { .. })
                )
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every plugin's state.
    pub fn health(&self) -> Vec<PluginHealth> {
        self.slots
            .iter()
            .map(|(name, slot)| {
                let (state, category, restart_attempt) = match slot.state.read().as_deref() {
                    Ok(State::Running(p)) if p.is_alive() => ("running", None, None),
                    Ok(State::Running(_)) => ("restarting", None, None),
                    Ok(State::Restarting { attempt }) => ("restarting", None, Some(*attempt)),
                    Ok(State::Failed(category)) => ("failed", Some(category.clone()), None),
                    Ok(State::Disabled) => ("disabled", None, None),
                    Ok(State::Stopped) | Err(_) => ("stopped", None, None),
                };
                let enforcement = (state == "running").then(|| {
                    let ids = self.shared.identities.get(name).map_or_else(
                        || {
                            let own = nix::unistd::getuid().as_raw();
                            (own, nix::unistd::getgid().as_raw())
                        },
                        |run_as| (run_as.uid, run_as.gid),
                    );
                    confine::enforced(
                        self.shared.confinement,
                        &self.shared.launcher,
                        slot.plugin.manifest.network,
                        ids,
                    )
                });
                PluginHealth {
                    name: name.clone(),
                    problem: (state == "failed").then(|| slot.problem.clone()).flatten(),
                    state: state.into(),
                    category,
                    restart_attempt,
                    confinement: enforcement.as_ref().map(confine::Enforced::summary),
                    enforcement,
                }
            })
            .collect()
    }

    /// Calls `tool` on `plugin` with the request envelope, on behalf of `scope`.
    pub async fn call(
        &self,
        plugin: &str,
        tool: &str,
        envelope: Value,
        deadline: Duration,
        scope: CallScope,
    ) -> Result<Value, Refusal> {
        let started = Instant::now();
        let slot = self.slots.get(plugin).ok_or_else(|| unavailable(plugin))?;
        let process = slot.process().ok_or_else(|| unavailable(plugin))?;
        // Waiting for a slot counts against the call's own deadline.
        let Ok(Some(_pass)) =
            tokio::time::timeout(deadline, slot.slots.enter(&scope.session)).await
        else {
            return Err(timeout(deadline));
        };
        let id = process.reserve_id();
        if let Ok(mut in_flight) = slot.in_flight.lock() {
            in_flight.insert(id, scope);
        }
        let left = deadline.saturating_sub(started.elapsed());
        let params = json!({"tool": tool, "envelope": envelope});
        let outcome = process.request_as(id, "tool/call", params, left).await;
        if let Ok(mut in_flight) = slot.in_flight.lock() {
            in_flight.remove(&id);
        }
        match outcome {
            Ok(RpcOutcome::Result(value)) => Ok(value),
            Ok(RpcOutcome::Error(error)) => Err(tool_error(&error)),
            Err(RpcFailure::Timeout) => Err(timeout(deadline)),
            Err(RpcFailure::Broken) => Err(Refusal::PluginBroke),
        }
    }

    /// The scope of call `call_id` that `plugin` is handling now, if any.
    pub fn scope_of(&self, plugin: &str, call_id: u64) -> Option<CallScope> {
        let slot = self.slots.get(plugin)?;
        let in_flight = slot.in_flight.lock().ok()?;
        in_flight.get(&call_id).cloned()
    }

    /// The running process of `plugin` (to answer its requests).
    pub fn process(&self, plugin: &str) -> Option<Arc<HandlerProcess>> {
        self.slots.get(plugin)?.process()
    }

    /// Sends an `event` notification to every running plugin subscribed to a prefix of `topic`.
    pub fn forward_event(&self, topic: &str, envelope: &Value) {
        for slot in self.slots.values() {
            let subscribed = slot
                .plugin
                .manifest
                .subscribes
                .iter()
                .any(|prefix| topic.starts_with(prefix.as_str()));
            if !subscribed {
                continue;
            }
            if let Some(process) = slot.process() {
                let params = json!({ "envelope": envelope });
                tokio::spawn(async move { process.notify("event", params).await });
            }
        }
    }

    /// The memory brief for `group` from the first running plugin that provides
    /// the `memory_brief` hook, within `deadline`; `None` when none answers in time.
    pub async fn memory_brief(&self, group: &str, deadline: Duration) -> Option<(String, String)> {
        let (name, slot) = self.slots.iter().find(|(_, slot)| {
            slot.plugin
                .manifest
                .provides
                .hooks
                .iter()
                .any(|h| h == MEMORY_BRIEF_HOOK)
        })?;
        let process = slot.process()?;
        let params = json!({ "group": group });
        match process.request("hook/memory_brief", params, deadline).await {
            Ok(RpcOutcome::Result(answer)) => {
                let markdown = answer.get("markdown")?.as_str()?;
                Some((name.clone(), markdown.to_owned()))
            }
            Ok(RpcOutcome::Error(_)) => {
                tracing::warn!(plugin = %name, "the memory brief hook answered an error");
                None
            }
            Err(failure) => {
                tracing::warn!(plugin = %name, ?failure, "no memory brief in time");
                None
            }
        }
    }

    /// Whether `plugin` declares channels (and so may publish `message.inbound`).
    pub fn is_channel(&self, plugin: &str) -> bool {
        self.slots
            .get(plugin)
            .is_some_and(|s| !s.plugin.manifest.provides.channels.is_empty())
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

/// Restarts a handler each time it stops, waiting longer after each quick failure.
async fn supervise(shared: Arc<Shared>, slot: Arc<Slot>, first: Arc<HandlerProcess>) {
    let mut current = first;
    let mut attempt: u32 = 0;
    loop {
        let up_since = Instant::now();
        current.stopped().await;
        if slot.retired.load(Ordering::SeqCst) {
            return;
        }
        // It may have stopped answering without exiting (a refused line, a protocol break).
        current.kill().await;
        if up_since.elapsed() >= STABLE_UPTIME {
            attempt = 0;
        }
        loop {
            attempt = attempt.saturating_add(1);
            slot.set(State::Restarting { attempt });
            let delay = backoff(attempt);
            tracing::warn!(plugin = %slot.plugin.name, attempt, delay_ms = delay.as_millis() as u64, "handler stopped; restarting");
            tokio::time::sleep(delay).await;
            if slot.retired.load(Ordering::SeqCst) {
                return;
            }
            match launch(&shared, &slot).await {
                Ok(process) => {
                    tracing::info!(plugin = %slot.plugin.name, attempt, "plugin restarted");
                    slot.set(State::Running(Arc::clone(&process)));
                    current = process;
                    break;
                }
                Err(category) => {
                    tracing::warn!(plugin = %slot.plugin.name, %category, "restart failed");
                }
            }
        }
    }
}

/// Hash of what a plugin slot is started from (the manifest as discovery read it).
fn fingerprint(plugin: &Discovered, settings: &crate::config::PluginSettings) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(plugin.folder.as_os_str().as_encoded_bytes());
    hash.update(plugin.manifest_digest.as_bytes());
    hash.update(plugin.refused.as_deref().unwrap_or_default());
    hash.update(serde_json::to_vec(settings).unwrap_or_default());
    hex::encode(hash.finalize())
}

/// 0.5 s, 1 s, 2 s, ... up to a minute.
fn backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(10);
    (Duration::from_millis(500) * 2u32.pow(exponent)).min(MAX_BACKOFF)
}

/// Starts and initializes one handler; the error is a closed category.
async fn launch(shared: &Shared, slot: &Slot) -> Result<Arc<HandlerProcess>, String> {
    let plugin = &slot.plugin;
    if let Some(refusal) = super::reserved::refusal(&plugin.name, &plugin.folder) {
        tracing::error!(plugin = %plugin.name, "{refusal}");
        return Err("CONFIG_ERROR".into());
    }
    let data_dir = shared.home.plugin_data_dir(&plugin.name);
    let tmp_dir = data_dir.join("tmp");
    let run_as = shared.identities.get(&plugin.name).copied();
    crate::paths::create_private_dir(&data_dir).map_err(|_| "INTERNAL_ERROR".to_owned())?;
    match run_as {
        // The launcher makes `tmp/` as the handler: the core never works inside a directory
        // a plugin owns, but through descriptors.
        Some(ids) => {
            identity::check_free(ids).map_err(|e| {
                tracing::error!(plugin = %plugin.name, error = %e, "plugin uid unusable");
                "CONFIG_ERROR".to_owned()
            })?;
            identity::own_data_dir(&data_dir, ids).map_err(|e| {
                tracing::error!(plugin = %plugin.name, error = %e, "data dir not given to the plugin");
                "INTERNAL_ERROR".to_owned()
            })?;
        }
        None => {
            crate::paths::create_private_dir(&tmp_dir).map_err(|_| "INTERNAL_ERROR".to_owned())?
        }
    }
    let command = match &plugin.manifest.handler {
        HandlerCommand::Program(p) => vec![p.clone()],
        HandlerCommand::WithArgs(v) => v.clone(),
    };
    let program = command.first().map(String::as_str).unwrap_or_default();
    if let Some(path) = run_as.and_then(|_| identity::unreadable_part(&plugin.folder, program)) {
        tracing::error!(
            plugin = %plugin.name,
            path = %path.display(),
            "the plugin's own uid cannot read its folder or program; run `chmod -R o+rX {}`",
            plugin.folder.display()
        );
        return Err("CONFIG_ERROR".into());
    }
    let declared = &plugin.manifest.credentials;
    let missing = credentials::missing(&shared.home, &plugin.name, declared);
    if !missing.is_empty() {
        tracing::error!(
            plugin = %plugin.name,
            missing = ?missing,
            "required credentials are missing; set them with `carapace auth set --plugin {} NAME`",
            plugin.name
        );
        return Err("AUTH_ERROR".into());
    }
    let credentials_dir = match run_as {
        Some(ids) => {
            credentials::hand_over(&shared.home, &plugin.name, declared, (ids.uid, ids.gid))
        }
        None => credentials::credentials_dir_for(&shared.home, &plugin.name, declared),
    }
    .map_err(|e| {
        tracing::error!(plugin = %plugin.name, error = %e, "credentials unusable");
        "AUTH_ERROR".to_owned()
    })?;
    let mut env = vec![("TMPDIR".to_owned(), tmp_dir.into_os_string())];
    if let Some(dir) = &credentials_dir {
        env.push((
            "CARAPACE_CREDENTIALS_DIR".into(),
            dir.clone().into_os_string(),
        ));
    }
    // Always through the launcher: without Landlock its other protections still hold.
    let spec = confine::spec_for(&confine::SpecRequest {
        plugin_folder: &plugin.folder,
        data_dir: &data_dir,
        credentials_dir: credentials_dir.as_deref(),
        network: plugin.manifest.network,
        command: &command,
        path: &shared.handler_path,
        carapace_home: shared.home.root(),
        run_as,
    });
    let wrapper = confine::wrapper(
        &launcher_exe().map_err(|_| "INTERNAL_ERROR".to_owned())?,
        &spec,
    );
    let process = HandlerProcess::spawn(Launch {
        name: &plugin.name,
        folder: &plugin.folder,
        command,
        data_dir: &data_dir,
        path: shared.handler_path.clone(),
        env,
        wrapper,
        to_core: shared.to_core.clone(),
    })
    .map_err(|e| {
        tracing::error!(plugin = %plugin.name, error = %e, "cannot start handler");
        "INTERNAL_ERROR".to_owned()
    })?;
    let params = json!({
        "plugin": plugin.name,
        "version": env!("CARGO_PKG_VERSION"),
        "config": slot.config,
        "data_dir": data_dir,
        "credentials_dir": credentials_dir,
    });
    match process
        .request("initialize", params, shared.initialize_deadline)
        .await
    {
        Ok(RpcOutcome::Result(_)) => Ok(Arc::new(process)),
        Ok(RpcOutcome::Error(error)) => {
            process.shutdown(Duration::from_secs(1)).await;
            Err(init_category(&error))
        }
        Err(_) => {
            process.kill().await;
            Err("INTERNAL_ERROR".into())
        }
    }
}

/// What the launcher enforces here, as a handler of `run_as` (it runs once, in a child).
async fn probe_launcher(run_as: Option<confine::RunAs>) -> confine::LauncherProbe {
    let failed = |why: String| confine::LauncherProbe {
        sockets: confine::SocketHiding::Visible(why.clone()),
        observed: Err(why),
    };
    let probe = tokio::task::spawn_blocking(move || match launcher_exe() {
        Ok(exe) => confine::probe_launcher(&exe, run_as),
        Err(e) => failed(e.to_string()),
    });
    probe.await.unwrap_or_else(|e| failed(e.to_string()))
}

/// The hook a memory plugin provides to brief each new agent session.
pub const MEMORY_BRIEF_HOOK: &str = "memory_brief";

/// The `carapace` binary that confines handlers: `$CARAPACE_LAUNCHER` (for embedders
/// such as benchmarks, whose own executable is not `carapace`), else this executable.
fn launcher_exe() -> std::io::Result<PathBuf> {
    match std::env::var_os("CARAPACE_LAUNCHER") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => std::env::current_exe(),
    }
}

/// The handler's `PATH`: the directory of the `carapace` binary (bundled handlers), then the core's.
fn handler_path() -> OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        dirs.push(dir);
    }
    let inherited = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    dirs.extend(std::env::split_paths(&inherited));
    std::env::join_paths(dirs).unwrap_or(inherited)
}

/// The plugin's config from `config.toml`, checked against its `config_schema`, defaults applied.
fn plugin_config(plugin: &Discovered, table: &toml::Table) -> Result<Value, String> {
    let mut value = serde_json::to_value(table).map_err(|e| e.to_string())?;
    let Some(schema) = &plugin.manifest.config_schema else {
        return Ok(value);
    };
    apply_defaults(schema, &mut value);
    let validator = crate::tools::schema_rules::compile(schema)?;
    if let Err(error) = validator.validate(&value) {
        return Err(format!(
            "[plugins.{}.config] at `{}`: {error}",
            plugin.name,
            error.instance_path()
        ));
    }
    Ok(value)
}

/// Fills in `default`s of the schema's properties, recursively, where the value has none.
fn apply_defaults(schema: &Value, value: &mut Value) {
    let (Some(Value::Object(properties)), Value::Object(map)) = (schema.get("properties"), value)
    else {
        return;
    };
    for (name, property) in properties {
        if !map.contains_key(name) {
            if let Some(default) = property.get("default") {
                map.insert(name.clone(), default.clone());
            }
        }
        if let Some(child) = map.get_mut(name) {
            apply_defaults(property, child);
        }
    }
}

fn unavailable(plugin: &str) -> Refusal {
    Refusal::PluginNotRunning {
        plugin: plugin.into(),
    }
}

fn timeout(deadline: Duration) -> Refusal {
    Refusal::PluginTimedOut { deadline }
}

/// Longest message of a tool's error, in characters.
const MAX_TOOL_ERROR_CHARS: usize = 1000;

/// A JSON-RPC error from a handler becomes the tool's own error, its message
/// redacted (the container, the audit log and the diagnostics all get this one).
fn tool_error(error: &Value) -> Refusal {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the tool reported an error");
    let retriable = error
        .get("data")
        .and_then(|d| d.get("retriable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Refusal::ToolFailed {
        message: crate::sanitize::shared().redact_cut(message, MAX_TOOL_ERROR_CHARS),
        retriable,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let schema = json!({"type":"object","properties":{
            "port":{"type":"integer","default":993},
            "tls":{"type":"object","properties":{"verify":{"type":"boolean","default":true}}}}});
        let mut value = json!({"tls":{}, "port": 143});
        apply_defaults(&schema, &mut value);
        assert_eq!(value, json!({"port":143,"tls":{"verify":true}}));
    }
}
