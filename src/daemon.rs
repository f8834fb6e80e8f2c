//! `carapace start`: assemble the core, serve sessions and the CLI, drain on a signal.
//!
//! Order at start: home layout, config, paused groups, non-dumpable, audit
//! log, plugins, catalog, sockets, restored sessions, control socket. At stop: stop taking
//! calls, let those in flight finish (bounded), stop plugins, flush the audit log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::audit::{AuditLog, AuditWriter, Retention};
use crate::config::{Config, ConfigError};
use crate::core::{Core, CoreParts};
use crate::paths::Home;

use crate::serve::lifecycle;
use carapace_zmtp::server::socket::{SocketEvent, SocketServer};

/// How long in-flight calls may run on after a stop request.
const DRAIN_DEADLINE: Duration = Duration::from_secs(15);

/// Why the core could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The home directory could not be prepared.
    #[error("cannot prepare {path}: {source}")]
    Home {
        /// The home.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another core already serves this home.
    #[error("a core is already running for {0} (see `carapace status`)")]
    AlreadyRunning(String),
    /// The audit log could not be opened.
    #[error("audit log: {0}")]
    Audit(String),
    /// Plugin discovery or the catalog refused startup.
    #[error("plugins: {0}")]
    Plugins(String),
    /// The credentials store has loose modes or foreign owners.
    #[error("credentials: {0}")]
    Credentials(String),
    /// An old-layout home could not be moved to the new layout.
    #[error("home layout: {0}")]
    Migration(#[from] crate::migrate::MigrationError),
    /// A socket could not be bound.
    #[error("socket: {0}")]
    Socket(String),
    /// Today's token ledger cannot be read safely.
    #[error("token ledger: {0}")]
    Ledger(#[from] crate::model_proxy::journal::JournalError),
    /// The paused groups' state file is not one the core wrote.
    #[error("paused groups: {0}")]
    Paused(#[from] crate::policy::paused::PausedError),
    /// The task fires file is not one the core wrote.
    #[error("task fires: {0}")]
    TaskFires(#[from] crate::agent::fires::FiresError),
}

/// Takes `run/core.lock` (0600, never through a link) for this process; the
/// kernel lets it go when the process ends, however it ends.
fn hold_core_lock(home: &Home) -> Result<std::fs::File, StartError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.run_dir().join("core.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|source| StartError::Home {
            path: path.display().to_string(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::AlreadyRunning(
            home.root().display().to_string(),
        )),
        Err(std::fs::TryLockError::Error(source)) => Err(StartError::Home {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Runs the core in the foreground until SIGTERM, SIGINT or `carapace stop`.
pub async fn run(home: Home) -> Result<(), StartError> {
    let home_err = |source| StartError::Home {
        path: home.root().display().to_string(),
        source,
    };
    home.ensure_layout().map_err(home_err)?;
    let config = Config::load(&home.config_file())?;
    // One core per home, held for as long as this one runs: two cores started
    // at the same moment would both pass the socket probe below, and then
    // write the same ledger, audit log and state files.
    let _one_core = hold_core_lock(&home)?;
    if crate::control::client::request(
        &home.control_socket(),
        &crate::control::ControlRequest::Status,
        Duration::from_secs(2),
    )
    .is_ok()
    {
        return Err(StartError::AlreadyRunning(
            home.root().display().to_string(),
        ));
    }
    let migrated = crate::migrate::migrate_home(&home)?;
    // Before anything runs: a paused group must never start a session, not even
    // one restored, and a state file that cannot be read never unpauses it.
    let paused = crate::policy::PausedGroups::load(&home.paused_groups_file())?;
    // Likewise a task fire taken before must never start a second session.
    let task_fires = crate::agent::fires::TaskFires::load(&home.task_fires_file())?;
    // And today's spent tokens are read back, so a restart lifts no cap.
    let (model_ledger, skipped) =
        crate::model_proxy::DayLedger::open(crate::model_proxy::Journal::new(&home.usage_dir()))?;
    if skipped > 0 {
        tracing::warn!(
            skipped,
            dir = %home.usage_dir().display(),
            "lines of today's token ledger did not parse (cut by a crash or a full disk) and were skipped"
        );
    }
    make_non_dumpable();
    raise_descriptor_limit();
    crate::credentials::check_store(&home).map_err(|e| StartError::Credentials(e.to_string()))?;
    let mut writer = AuditWriter::open(
        &home.audit_dir(),
        &home.audit_key(),
        config.audit.rotate_bytes,
    )
    .map_err(|e| StartError::Audit(e.to_string()))?;
    if let Err(e) = writer.set_retention(Retention {
        max_bytes: config.audit.max_bytes,
        max_age: Duration::from_secs(config.audit.max_age_days.saturating_mul(86_400)),
    }) {
        // Old files stay until the next rotation; the log itself works.
        tracing::error!(error = %e, "audit retention failed at start");
    }
    let audit = AuditLog::start(writer);

    let assembled = crate::assemble::assemble(&home, config, None, None)
        .await
        .map_err(StartError::Plugins)?;

    let (inbound_tx, inbound_rx) = mpsc::channel::<SocketEvent>(1024);
    let sockets = SocketServer::start(inbound_tx, Some(&home.events_socket()))
        .map_err(|e| StartError::Socket(e.to_string()))?;
    sockets.set_message_deadline(Duration::from_secs(
        assembled.config.core.message_deadline_secs,
    ));
    let (budget_alerts, budget_alerts_rx) = mpsc::channel(64);
    let core = Arc::new(
        Core::new(CoreParts {
            home: home.clone(),
            config: assembled.config,
            catalog: assembled.catalog,
            plugins: Arc::new(assembled.host),
            sockets: sockets.clone(),
            audit,
            paused,
            task_fires,
        })
        .with_model_ledger(Arc::new(model_ledger), budget_alerts),
    );
    tokio::spawn(crate::serve::budget::publish_alerts(
        Arc::clone(&core),
        budget_alerts_rx,
    ));
    tokio::spawn(crate::serve::plugin_services::serve(
        Arc::clone(&core),
        assembled.from_plugins,
    ));
    for moved in migrated {
        core.audit_core("home.migrated", json!({"from": moved.from, "to": moved.to}));
    }
    let lifecycle::Restored {
        sessions: restored,
        orphans,
    } = lifecycle::restore(&core).await;
    if !orphans.is_empty() {
        tokio::spawn(crate::agent::remove_orphans(Arc::clone(&core), orphans));
    }
    let listener =
        crate::control::server::bind(&core).map_err(|e| StartError::Socket(e.to_string()))?;
    let _ = std::fs::write(home.pid_file(), format!("{}\n", std::process::id()));
    let paused_groups: Vec<String> = core.paused.all().into_keys().collect();
    core.audit_core(
        "core.started",
        json!({"version": env!("CARGO_PKG_VERSION"), "pid": std::process::id(),
               "restored_sessions": restored, "paused_groups": paused_groups}),
    );
    crate::assemble::publish_health(&core);
    tracing::info!(home = %home.root().display(), restored, "carapace core ready");
    crate::memory::return_free_memory();

    let stop = Arc::new(Notify::new());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let dispatcher = tokio::spawn(crate::serve::dispatch::dispatch(
        Arc::clone(&core),
        inbound_rx,
        Arc::clone(&in_flight),
    ));
    let summaries = tokio::spawn(summarize_refusals(Arc::clone(&core)));
    let control = tokio::spawn(crate::control::server::serve(
        listener,
        Arc::clone(&core),
        Arc::clone(&stop),
    ));
    wait_for_stop(&stop).await;

    tracing::info!("stopping: draining calls in flight");
    control.abort();
    dispatcher.abort();
    summaries.abort();
    let drain_started = tokio::time::Instant::now();
    while in_flight.load(Ordering::SeqCst) > 0 && drain_started.elapsed() < DRAIN_DEADLINE {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for session in core.sessions.all() {
        let _ = lifecycle::close(&core, &session.id).await;
    }
    core.plugins().shutdown().await;
    sockets.stop();
    core.audit_core(
        "core.stopped",
        json!({"abandoned_calls": in_flight.load(Ordering::SeqCst)}),
    );
    if let Err(e) = core.model_ledger.flush() {
        tracing::error!(error = %e, "model usage lines could not be written at stop: they are lost");
    }
    if let Err(e) = core.audit_log().flush() {
        tracing::error!(error = %e, "audit log flush failed at stop");
    }
    let _ = std::fs::remove_file(home.control_socket());
    let _ = std::fs::remove_file(home.pid_file());
    Ok(())
}

/// Writes each session's refusal summaries once their interval is over.
async fn summarize_refusals(core: Arc<Core>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for session in core.sessions.all() {
            core.summarize_refusals(&session, false);
        }
    }
}

async fn wait_for_stop(stop: &Notify) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        stop.notified().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
        _ = stop.notified() => tracing::info!("stop requested"),
    }
}

/// Raises the soft limit on open files to the hard one: every session's peers
/// and every plugin's pipes are descriptors, and running out of them would stop
/// every session at once.
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(error = %e, soft, "cannot raise the open-file limit");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

/// Keeps same-user processes (plugins among them) from reading the core's memory via /proc.
fn make_non_dumpable() {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(error = %e, "cannot make the core non-dumpable");
    }
}
