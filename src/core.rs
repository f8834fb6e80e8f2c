//! The running core's shared state: config, catalog, sessions, and the services the pipeline uses.
//!
//! Built once at start by the daemon; the pipeline and the control socket only read it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::audit::{AuditError, AuditLog, EventLine, RefusalKind, SUMMARY_KIND};
use crate::config::Config;
use crate::model_proxy::{DayLedger, Exhausted, UsageLedger};
use crate::paths::Home;
use crate::plugins::PluginHost;
use crate::policy::{Confirmations, GroupPolicy, PausedGroups, RateLimiter};
use crate::sanitize::Sanitizer;
use crate::session::agents::AgentRegistry;
use crate::session::{Session, SessionTable};
use crate::tools::Catalog;
use carapace_zmtp::server::socket::SocketServer;

/// Longest a call waits for its `request.routed` line to reach the log file
/// before it is refused with `AUDIT_UNAVAILABLE`.
pub const AUDIT_WAIT: Duration = Duration::from_secs(5);

/// What `carapace reload` replaces as one: config, catalog, policy and plugins.
pub struct Loaded {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The tool catalog.
    pub catalog: Arc<Catalog>,
    /// Which group may call which tool.
    pub policy: Arc<GroupPolicy>,
    /// The running plugins.
    pub plugins: Arc<PluginHost>,
}

impl Loaded {
    /// Bundles a config, a catalog and plugins, deriving the policy.
    pub fn new(config: Config, catalog: Catalog, plugins: Arc<PluginHost>) -> Loaded {
        Loaded {
            policy: Arc::new(GroupPolicy::from_config(&config)),
            config: Arc::new(config),
            catalog: Arc::new(catalog),
            plugins,
        }
    }
}

/// Everything a request needs, shared by all tasks.
pub struct Core {
    /// The home directory layout.
    pub home: Home,
    loaded: std::sync::RwLock<Arc<Loaded>>,
    /// Open sessions.
    pub sessions: SessionTable,
    /// Token buckets per session and tool.
    pub rate_limiter: RateLimiter,
    /// High-risk calls waiting for the user.
    pub confirmations: Confirmations,
    /// Groups the kill switch paused (persisted in `state/paused.json`).
    pub paused: PausedGroups,
    /// The scheduled tasks' fires that started a session (`state/task_fires`).
    pub task_fires: crate::agent::fires::TaskFires,
    /// The response sanitizer: the process's one, compiled once and shared
    /// with the log paths (plugin stderr, container output).
    pub sanitizer: &'static Sanitizer,
    /// The session sockets.
    pub sockets: SocketServer,
    /// Model tokens used, per session and per group and task today, over all
    /// sessions (kept in `state/usage/` by the daemon's core).
    pub model_ledger: Arc<dyn UsageLedger>,
    /// Where the model proxies tell a cap reached (published as `budget.exhausted`).
    pub budget_alerts: Option<tokio::sync::mpsc::Sender<Exhausted>>,
    /// Agent sessions running and waiting.
    pub agents: AgentRegistry,
    audit: AuditLog,
    /// RFC 3339 time the core started.
    pub started_at: String,
}

/// The parts a core is assembled from.
pub struct CoreParts {
    /// The home directory layout.
    pub home: Home,
    /// The loaded configuration.
    pub config: Config,
    /// The tool catalog (intrinsics and plugins).
    pub catalog: Catalog,
    /// The running plugins.
    pub plugins: Arc<PluginHost>,
    /// The session sockets' thread.
    pub sockets: SocketServer,
    /// The audit log.
    pub audit: AuditLog,
    /// The paused groups, as read at start.
    pub paused: PausedGroups,
    /// The task fires already taken, as read at start.
    pub task_fires: crate::agent::fires::TaskFires,
}

impl Core {
    /// Assembles a core from its parts.
    pub fn new(parts: CoreParts) -> Core {
        let loaded = Loaded::new(parts.config, parts.catalog, parts.plugins);
        Core {
            home: parts.home,
            loaded: std::sync::RwLock::new(Arc::new(loaded)),
            sessions: SessionTable::default(),
            rate_limiter: RateLimiter::default(),
            confirmations: Confirmations::default(),
            paused: parts.paused,
            task_fires: parts.task_fires,
            sanitizer: crate::sanitize::shared(),
            sockets: parts.sockets,
            model_ledger: Arc::new(DayLedger::in_memory()),
            budget_alerts: None,
            agents: AgentRegistry::default(),
            audit: parts.audit,
            started_at: crate::time::now_rfc3339(),
        }
    }

    /// Uses `ledger` for model tokens, and tells `alerts` of caps reached.
    pub fn with_model_ledger(
        mut self,
        ledger: Arc<dyn UsageLedger>,
        alerts: tokio::sync::mpsc::Sender<Exhausted>,
    ) -> Core {
        self.model_ledger = ledger;
        self.budget_alerts = Some(alerts);
        self
    }

    /// The current config, catalog, policy and plugins, as one consistent snapshot.
    pub fn loaded(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(loaded) => Arc::clone(&loaded),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts a reloaded snapshot in force; returns the one it replaces.
    pub fn replace_loaded(&self, next: Loaded) -> Arc<Loaded> {
        let next = Arc::new(next);
        match self.loaded.write() {
            Ok(mut loaded) => std::mem::replace(&mut *loaded, next),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), next),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.loaded().config)
    }

    /// The tool catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.loaded().catalog)
    }

    /// Which group may call which tool.
    pub fn policy(&self) -> Arc<GroupPolicy> {
        Arc::clone(&self.loaded().policy)
    }

    /// The plugin host.
    pub fn plugins(&self) -> Arc<PluginHost> {
        Arc::clone(&self.loaded().plugins)
    }

    /// The audit log.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Records a session's event in the audit log and in its diagnostics.
    pub fn audit(&self, session: &Session, kind: &str, fields: Value) {
        session.remember(kind, &fields, |event| {
            self.audit.record(event);
        });
    }

    /// Ok while the audit log is writable; the error says since when and why not.
    pub fn audit_available(&self) -> Result<(), AuditError> {
        if self.audit.available() {
            return Ok(());
        }
        Err(AuditError::Unavailable {
            dir: self.home.audit_dir(),
            reason: self
                .audit
                .health()
                .reason
                .unwrap_or_else(|| "the last write failed".into()),
        })
    }

    /// Records a session's event like [`audit`](Self::audit), then waits (at most
    /// [`AUDIT_WAIT`]) until it is written to the log file. An error means the
    /// line is not known to be in the file: whatever it records must not happen.
    pub async fn audit_written(
        &self,
        session: &Session,
        kind: &str,
        fields: Value,
    ) -> Result<(), AuditError> {
        self.audit_available()?;
        let mut ticket = None;
        session.remember(kind, &fields, |event| {
            ticket = Some(self.audit.record(event))
        });
        match ticket {
            Some(ticket) => self.audit.wait_written(ticket, AUDIT_WAIT).await,
            None => Err(AuditError::Unavailable {
                dir: self.home.audit_dir(),
                reason: "the event was not recorded".into(),
            }),
        }
    }

    /// Counts one of `session`'s cheap refusals (`weight` of them at once):
    /// true when this one is to be recorded in full, the first of its kind in
    /// its interval; the rest are summed into one `refusals.summary` line.
    pub fn admit_refusal(&self, session: &Session, kind: RefusalKind, weight: u64) -> bool {
        let (full, closed) = session.refusals.admit(kind, weight, Instant::now());
        if let Some(summary) = closed {
            self.audit(session, SUMMARY_KIND, summary.fields());
        }
        full
    }

    /// Writes the summary lines of `session`'s refusal intervals that are over,
    /// or of all of them when the session is `closing`.
    pub fn summarize_refusals(&self, session: &Session, closing: bool) {
        for summary in session.refusals.summaries(closing, Instant::now()) {
            self.audit(session, SUMMARY_KIND, summary.fields());
        }
    }

    /// Publishes an event on the bus (`carapace events`) and to subscribed plugins.
    pub fn publish(&self, topic: &str, payload: Value) {
        self.sockets.publish(topic, &payload);
        let envelope = serde_json::json!({
            "id": crate::ids::new_uuid(),
            "version": carapace_ipc::ENVELOPE_VERSION,
            "type": "event",
            "topic": topic,
            "source": "core",
            "timestamp": crate::time::now_rfc3339(),
            "payload": payload,
        });
        // An event about one group goes only to plugins serving that group: a
        // plugin limited to `public` must not read `main`'s pending calls or answers.
        let group = envelope
            .pointer("/payload/group")
            .and_then(serde_json::Value::as_str);
        let policy = self.policy();
        self.plugins().forward_event(topic, &envelope, |plugin| {
            group.is_none_or(|group| policy.plugin_serves(plugin, group))
        });
    }

    /// Records an event that belongs to no session.
    pub fn audit_core(&self, kind: &str, fields: Value) {
        self.audit.record(&EventLine::new(kind, None, &fields));
    }
}
