//! `SchedulerHandler`, the SDK plugin: opens the store at `initialize` (checked,
//! migrated, the config's tasks written), runs the firing loop from `started`,
//! stops it at `stopping`, reads the core's pause events, and answers tools.
//!
//! Must never start with a database or a config task it could not check
//! (`initialize` fails with `CONFIG_ERROR` naming it).

use std::sync::Arc;

use carapace_plugin_sdk::{CallContext, CoreLink, Init, InitError, Level, Plugin, ToolError};
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::config::{Config, ConfigTask};
use crate::runner::Scheduler;
use crate::store::{NewTask, Store};
use crate::task::Trust;
use crate::timing::{Schedule, Timing};
use crate::tools;

/// The scheduler plugin's handler.
#[derive(Default)]
pub struct SchedulerHandler {
    scheduler: Option<Arc<Scheduler>>,
}

impl SchedulerHandler {
    /// A handler waiting for `initialize`.
    pub fn new() -> SchedulerHandler {
        SchedulerHandler::default()
    }

    /// The scheduler `initialize` set up (for tests and benchmarks).
    pub fn scheduler(&self) -> Option<Arc<Scheduler>> {
        self.scheduler.clone()
    }
}

/// A plain name: `[a-z0-9_-]{1,64}`.
fn plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A config task, checked, as a new task at `now`.
fn config_task(task: &ConfigTask, now: jiff::Timestamp) -> Result<(String, NewTask), InitError> {
    let bad = |what: String| {
        InitError::config(format!(
            "scheduler: config task `{}`: {what}",
            task.name.escape_debug()
        ))
    };
    if !plain_name(&task.name) {
        return Err(bad("`name` must match [a-z0-9_-]{1,64}".into()));
    }
    let group_ok = (1..=64).contains(&task.group.len())
        && task
            .group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !group_ok {
        return Err(bad("`group` must match [A-Za-z0-9_-]{1,64}".into()));
    }
    let timing = Timing::parse(task.cron.as_deref(), task.at.as_deref(), &task.tz)
        .map_err(|e| bad(e.to_string()))?;
    tools::check_prompt(&task.prompt).map_err(|e| bad(e.to_string()))?;
    let (at, next_at) = match timing.schedule() {
        Schedule::At(at) => (Some(*at), (*at > now).then_some(*at)),
        Schedule::Cron(..) => {
            let next = timing
                .next_after(now)
                .ok_or_else(|| bad("cron: this pattern never fires".into()))?;
            (None, Some(next))
        }
    };
    Ok((
        task.name.clone(),
        NewTask {
            group: task.group.clone(),
            cron: task.cron.as_ref().map(|c| c.trim().to_owned()),
            at,
            tz: timing.zone_name().to_owned(),
            prompt: task.prompt.clone(),
            misfire: task.misfire,
            trust: Trust::Owner,
            created_by: None,
            creator: None,
            next_at,
        },
    ))
}

/// Says loudly, in the core's log and its audit log, that test hooks are on:
/// with them the plugin reads its time from a file or waits on purpose.
fn warn_of_test_hooks(link: &CoreLink, config: &Config) {
    let hooks = config.test_hooks();
    if hooks.is_empty() {
        return;
    }
    link.log(
        Level::Warn,
        format!(
            "scheduler: TEST HOOKS ARE ON ({}): never in production; remove them from \
             [plugins.scheduler.config] in config.toml",
            hooks.join(", ")
        ),
    );
    let _ = link.record(
        "test_hooks",
        json!({
            "test_clock": config.test_clock,
            "test_hold_after_record_ms": config.test_hold_after_record_ms,
            "test_hold_after_ack_ms": config.test_hold_after_ack_ms,
        }),
    );
}

impl Plugin for SchedulerHandler {
    fn initialize(&mut self, init: &Init) -> Result<(), InitError> {
        let config = Config::from_init(init)?;
        let unusable = |e: std::io::Error| InitError::config(format!("scheduler: data dir: {e}"));
        std::fs::create_dir_all(&init.data_dir).map_err(unusable)?;
        // SQLite's no-follow open refuses a link anywhere in the path: resolve the
        // directory once (a home under a linked directory); the file is never followed.
        let data_dir = std::fs::canonicalize(&init.data_dir).map_err(unusable)?;
        let clock = if config.test_clock {
            Clock::File(data_dir.join("clock"))
        } else {
            Clock::System
        };
        let now = clock.now().ok_or_else(|| {
            InitError::config(
                "scheduler: test_clock is on and <data_dir>/clock holds no RFC 3339 time",
            )
        })?;
        let declared = config
            .tasks
            .iter()
            .map(|task| config_task(task, now))
            .collect::<Result<Vec<_>, _>>()?;
        let store = Store::open(&data_dir).map_err(|e| e.to_init_error())?;
        store
            .sync_config(&declared, now)
            .map_err(|e| e.to_init_error())?;
        self.scheduler = Some(Arc::new(Scheduler::new(store, clock, config)));
        Ok(())
    }

    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        let scheduler = self
            .scheduler
            .as_ref()
            .ok_or_else(|| ToolError::new("the scheduler is not initialized"))?;
        tools::call(scheduler, ctx, tool, arguments)
    }

    fn started(&self, link: &CoreLink) {
        if let Some(scheduler) = &self.scheduler {
            warn_of_test_hooks(link, &scheduler.config);
            scheduler.run(link);
        }
    }

    fn stopping(&self) {
        if let Some(scheduler) = &self.scheduler {
            scheduler.stop();
        }
    }

    fn event(&self, link: &CoreLink, envelope: Value) {
        if let Some(scheduler) = &self.scheduler {
            scheduler.on_event(link, &envelope);
        }
    }
}
