//! Launching one handler: its data dir (given to its own uid when the core is
//! root), its credentials handed over, the confinement spec and launcher, then
//! `initialize` within the deadline.
//!
//! Errors are closed categories (`CONFIG_ERROR`, `AUTH_ERROR`, ...); the detail
//! goes to the log. Must never start a handler outside the launcher, nor one
//! whose declared credentials are missing.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::slot::Slot;
use super::Shared;
use crate::credentials;
use crate::plugins::confine;
use crate::plugins::identity;
use crate::plugins::manifest::HandlerCommand;
use crate::plugins::process::{HandlerProcess, Launch, RpcOutcome};

/// Most characters of a handler's `initialize` error kept for `status` and `doctor`.
const MAX_INIT_DETAIL_CHARS: usize = 512;

/// Why a handler did not start: a closed category, and what its `initialize` said
/// (for the owner only: `status` and `doctor`; it may name host paths).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LaunchFailure {
    pub(super) category: String,
    pub(super) detail: Option<String>,
}

impl From<String> for LaunchFailure {
    fn from(category: String) -> LaunchFailure {
        LaunchFailure {
            category,
            detail: None,
        }
    }
}

impl From<&str> for LaunchFailure {
    fn from(category: &str) -> LaunchFailure {
        LaunchFailure::from(category.to_owned())
    }
}

/// Starts and initializes one handler; the error is a closed category (with the
/// handler's own words when its `initialize` refused).
pub(super) async fn launch(
    shared: &Shared,
    slot: &Slot,
) -> Result<Arc<HandlerProcess>, LaunchFailure> {
    let plugin = &slot.plugin;
    if let Some(refusal) = crate::plugins::reserved::refusal(&plugin.name, &plugin.folder) {
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
    // Only the required ones must be there; the optional ones are handed
    // over too when they are (the plugin says which its config needs).
    let missing = credentials::missing(&shared.home, &plugin.name, &plugin.manifest.credentials);
    let declared = &plugin.manifest.all_credentials();
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
            Err(LaunchFailure {
                category: init_category(&error),
                detail: init_detail(&error),
            })
        }
        Err(_) => {
            process.kill().await;
            Err("INTERNAL_ERROR".into())
        }
    }
}

/// What the launcher enforces here, as a handler of `run_as` (it runs once, in a child).
pub(super) async fn probe_launcher(run_as: Option<confine::RunAs>) -> confine::LauncherProbe {
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

/// The `carapace` binary that confines handlers: `$CARAPACE_LAUNCHER` (for embedders
/// such as benchmarks, whose own executable is not `carapace`), else this executable.
fn launcher_exe() -> std::io::Result<PathBuf> {
    match std::env::var_os("CARAPACE_LAUNCHER") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => std::env::current_exe(),
    }
}

/// The handler's `PATH`: the directory of the `carapace` binary (bundled handlers), then the core's.
pub(super) fn handler_path() -> OsString {
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

/// A handler's `initialize` error message as the owner may read it: redacted, then
/// cut (the terminal commands escape it where they print it).
fn init_detail(error: &Value) -> Option<String> {
    let message = error.get("message")?.as_str()?;
    Some(crate::sanitize::shared().redact_cut(message, MAX_INIT_DETAIL_CHARS))
}

/// The category a handler's `initialize` error names, if it is one of the closed set.
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
