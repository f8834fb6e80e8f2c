//! What the core offers plugins: `services/*` requests, `event/publish` (as a
//! notification or an acknowledged request: `serve::plugin_publish`) and
//! `audit/record` (`serve::plugin_records`);
//! the capability requests (`confirm/resolve`, `group/*`) are handed to
//! `serve::capabilities` under the same limits and tallies.
//!
//! Every service is scoped to the group of a `tool/call` the plugin is
//! handling right now and names; an unknown or finished call is refused. Must
//! never let a plugin see another group's data or publish a topic it may not.
//! A refused request is answered with an error whose `data.code` says why.
//!
//! A plugin can send as fast as it can write, so nothing it sends may grow the
//! audit log (or the core's work) at its pace. Per plugin: at most
//! [`MAX_IN_FLIGHT`] requests are served at once and [`RATE_PER_SEC`] a second
//! (burst [`BURST`]); the rest are refused (`BUSY`, `RATE_LIMITED`). Its
//! refusals (refused requests, `event.refused`) are tallied like a session's
//! (`audit::summary`): the first of each kind and code in a window is recorded
//! in full, the rest counted into one `refusals.summary` line with a `plugin`
//! field. Its served requests are tallied the same way into one
//! [`SERVED_SUMMARY_KIND`] line. The plugin's reader holds at most
//! `process::MAX_QUEUED_TO_CORE` messages on their way here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::audit::{RefusalKind, RefusalTally, SUMMARY_KIND};
use crate::core::Core;
use crate::plugins::host::CallScope;
use crate::plugins::process::FromPlugin;
use crate::serve::capabilities::{self, Refused};
use crate::serve::plugin_publish;

/// Most audit entries one `services/audit_log` answer carries.
const MAX_AUDIT_ENTRIES: usize = 100;
/// How far back `services/audit_log` looks.
const AUDIT_WINDOW: usize = 2000;

/// Most `services/*` requests of one plugin served at once; more are refused.
pub const MAX_IN_FLIGHT: usize = 16;
/// `services/*` requests one plugin may make per second, on average.
pub const RATE_PER_SEC: f64 = 50.0;
/// `services/*` requests one plugin may make at once after a quiet spell.
pub const BURST: f64 = 100.0;
/// Kind of the line that counts a window's served requests after the first.
pub const SERVED_SUMMARY_KIND: &str = "plugin.service.summary";
/// How often windows that are over are written out.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Longest method or topic of a plugin's the log shows, in characters.
const SHOWN_CHARS: usize = 64;

/// One plugin's limits and tallies.
struct Guard {
    in_flight: Arc<Semaphore>,
    bucket: Mutex<Bucket>,
    refusals: RefusalTally,
    served: RefusalTally,
    /// The plugin's own audit lines (`audit/record`), tallied like its refusals.
    records: crate::serve::plugin_records::Records,
}

/// A token bucket: [`RATE_PER_SEC`], at most [`BURST`] saved up.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            bucket: Mutex::new(Bucket {
                tokens: BURST,
                at: Instant::now(),
            }),
            refusals: RefusalTally::default(),
            served: RefusalTally::default(),
            records: Default::default(),
        }
    }

    /// Takes one request's token, if there is one at `now`.
    fn take_token(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * RATE_PER_SEC;
        bucket.tokens = (bucket.tokens + earned).min(BURST);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

/// Serves plugin requests until the channel closes.
pub async fn serve(core: Arc<Core>, mut from_plugins: mpsc::UnboundedReceiver<FromPlugin>) {
    let mut guards: HashMap<String, Arc<Guard>> = HashMap::new();
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            message = from_plugins.recv() => message,
            _ = sweep.tick() => {
                summarize(&core, &guards, false);
                continue;
            }
        };
        let Some(message) = message else {
            break;
        };
        match message {
            FromPlugin::Request {
                plugin,
                id,
                method,
                params,
                queued,
            } => {
                let guard = Arc::clone(
                    guards
                        .entry(plugin.clone())
                        .or_insert_with(|| Arc::new(Guard::new())),
                );
                let shown = shown(&core, &method);
                let outcome = match Arc::clone(&guard.in_flight).try_acquire_owned() {
                    Err(_) => Err(Refused::new(
                        "BUSY",
                        format!("more than {MAX_IN_FLIGHT} services requests in flight; wait for their answers"),
                    )),
                    Ok(_) if !guard.take_token(Instant::now()) => Err(Refused::new(
                        "RATE_LIMITED",
                        format!("more than {RATE_PER_SEC} services requests a second; slow down"),
                    )),
                    Ok(permit) => Ok(permit),
                };
                let core = Arc::clone(&core);
                tokio::spawn(async move {
                    let _queued = queued;
                    let outcome = match outcome {
                        Ok(_permit) => {
                            let outcome = if capabilities::handles(&method) {
                                capabilities::answer(&core, &plugin, &method, &params).await
                            } else if method == plugin_publish::PUBLISH {
                                let published = plugin_publish::publish(&core, &plugin, &params);
                                if let Err(not) = &published {
                                    refused_event(&core, &guard, &plugin, not);
                                }
                                plugin_publish::answer(published)
                            } else {
                                answer(&core, &plugin, &method, &params)
                                    .map_err(|message| Refused::new("REFUSED", message))
                            };
                            match &outcome {
                                Ok(_) => served(&core, &guard, &plugin, &shown),
                                Err(refused) => {
                                    refused_service(&core, &guard, &plugin, &shown, refused)
                                }
                            }
                            outcome
                        }
                        Err(refused) => {
                            refused_service(&core, &guard, &plugin, &shown, &refused);
                            Err(refused)
                        }
                    };
                    let outcome = outcome.map_err(|r| (r.code, r.message, r.answer));
                    if let Some(process) = core.plugins().process(&plugin) {
                        process.respond(id, outcome).await;
                    }
                });
            }
            FromPlugin::Notification {
                plugin,
                method,
                params,
                queued,
            } => {
                let guard = guards
                    .entry(plugin.clone())
                    .or_insert_with(|| Arc::new(Guard::new()));
                notification(&core, guard, &plugin, &method, &params);
                drop(queued);
            }
        }
    }
    summarize(&core, &guards, true);
}

/// A plugin's own words, going into the log: redacted, then cut (a huge one
/// costs a bounded scan).
pub(crate) fn shown(core: &Core, text: &str) -> String {
    let head: String = text.chars().take(4 * SHOWN_CHARS).collect();
    core.sanitizer.redact_cut(&head, SHOWN_CHARS)
}

/// Writes the summaries of the plugins' windows that are over (all when `closing`).
fn summarize(core: &Core, guards: &HashMap<String, Arc<Guard>>, closing: bool) {
    let now = Instant::now();
    for (plugin, guard) in guards {
        for (kind, tally) in [
            (SUMMARY_KIND, &guard.refusals),
            (SERVED_SUMMARY_KIND, &guard.served),
        ] {
            for summary in tally.summaries(closing, now) {
                write_summary(core, kind, plugin, &summary);
            }
        }
        for summary in guard.records.summaries(closing, now) {
            write_summary(
                core,
                crate::serve::plugin_records::SUMMARY_KIND,
                plugin,
                &summary,
            );
        }
    }
}

/// Writes one window's summary line for `plugin`.
pub(crate) fn write_summary(
    core: &Core,
    kind: &str,
    plugin: &str,
    summary: &crate::audit::Summary,
) {
    let mut fields = summary.fields();
    fields["plugin"] = json!(plugin);
    core.audit_core(kind, fields);
}

/// Tallies one of `plugin`'s refusals; true when it is to be recorded in full.
fn admit_refusal(core: &Core, guard: &Guard, plugin: &str, kind: RefusalKind, topic: &str) -> bool {
    let (full, closed) = guard.refusals.admit_topic(kind, 1, topic, Instant::now());
    if let Some(summary) = closed {
        write_summary(core, SUMMARY_KIND, plugin, &summary);
    }
    full
}

/// Tallies one refused request; the first of its code and method in a window
/// is recorded in full, with what the refusal adds (a confirmation id, a group, `by`).
fn refused_service(core: &Core, guard: &Guard, plugin: &str, method: &str, refused: &Refused) {
    if admit_refusal(
        core,
        guard,
        plugin,
        ("plugin.service", refused.code),
        method,
    ) {
        let mut fields =
            json!({"plugin": plugin, "method": method, "ok": false, "code": refused.code});
        if let (Value::Object(line), Value::Object(detail)) = (&mut fields, &refused.detail) {
            for (key, value) in detail {
                line.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        core.audit_core("plugin.service", fields);
    }
}

fn served(core: &Core, guard: &Guard, plugin: &str, method: &str) {
    let (full, closed) =
        guard
            .served
            .admit_topic(("plugin.service", ""), 1, method, Instant::now());
    if let Some(summary) = closed {
        write_summary(core, SERVED_SUMMARY_KIND, plugin, &summary);
    }
    if full {
        core.audit_core(
            "plugin.service",
            json!({"plugin": plugin, "method": method, "ok": true}),
        );
    }
}

fn answer(core: &Core, plugin: &str, method: &str, params: &Value) -> Result<Value, String> {
    let scope = || -> Result<CallScope, String> {
        let call = params
            .get("call")
            .and_then(Value::as_u64)
            .ok_or("`call` (the id of a tool/call in flight) is required")?;
        core.plugins()
            .scope_of(plugin, call)
            .ok_or_else(|| format!("call {call} is not in flight for this plugin"))
    };
    let result = match method {
        "services/tool_catalog" => {
            let scope = scope()?;
            let tools: Vec<Value> = core
                .catalog()
                .all()
                .into_iter()
                .filter(|t| core.policy().allows(&scope.group, &t.spec))
                .map(|t| json!({"name": t.spec.name, "description": t.spec.description, "risk_level": t.spec.risk_level}))
                .collect();
            Ok(json!(tools))
        }
        "services/session_info" => {
            let scope = scope()?;
            let session = core
                .sessions
                .get(&scope.session)
                .ok_or("the session has ended")?;
            Ok(json!({"session": session.id, "group": session.group,
                       "started_at": session.started_at, "origin": session.origin}))
        }
        "services/audit_log" => {
            let scope = scope()?;
            let limit = params
                .get("limit")
                .and_then(Value::as_u64)
                .map_or(20, |n| n as usize)
                .min(MAX_AUDIT_ENTRIES);
            let entries = crate::audit::tail(&core.home.audit_dir(), AUDIT_WINDOW)
                .map_err(|_| "the audit log cannot be read".to_owned())?;
            let mut mine: Vec<Value> = entries
                .into_iter()
                .filter(|e| {
                    e.event.get("group").and_then(Value::as_str) == Some(scope.group.as_str())
                })
                .map(|e| json!({"seq": e.seq, "ts": e.ts, "event": e.event}))
                .collect();
            let skip = mine.len().saturating_sub(limit);
            mine.drain(..skip);
            Ok(json!(mine))
        }
        _ => Err(format!(
            "unknown method `{}`",
            method.chars().take(64).collect::<String>()
        )),
    };
    result
}

fn notification(core: &Arc<Core>, guard: &Guard, plugin: &str, method: &str, params: &Value) {
    if method == crate::serve::plugin_records::RECORD {
        crate::serve::plugin_records::record(core, &guard.records, plugin, params);
        return;
    }
    if method != plugin_publish::PUBLISH {
        tracing::debug!(%plugin, %method, "ignored plugin notification");
        return;
    }
    // Nobody waits for the outcome of a notification: it is audited and published.
    if let Err(not) = plugin_publish::publish(core, plugin, params) {
        refused_event(core, guard, plugin, &not);
    }
}

/// Audits (the first of a window in full, the rest counted) an event the
/// plugin may not publish: a plugin can send these at will.
fn refused_event(core: &Core, guard: &Guard, plugin: &str, not: &plugin_publish::NotAllowed) {
    let shown_topic = shown(core, &not.topic);
    if admit_refusal(core, guard, plugin, ("event.refused", ""), &shown_topic) {
        tracing::warn!(%plugin, topic = %shown_topic, "refused an event the plugin may not publish");
        core.audit_core(
            "event.refused",
            json!({"plugin": plugin, "topic": shown_topic, "group": shown(core, &not.group)}),
        );
    }
}
