//! A plugin with one tool per behaviour the SDK tests need.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use carapace_plugin_sdk::{
    typed, CallContext, Category, CoreLink, Init, InitError, Level, Plugin, ToolError,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// Config the test plugin understands.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    fail_with: Option<Category>,
}

/// The test plugin: no state.
#[derive(Default)]
pub struct Tools;

impl Plugin for Tools {
    fn initialize(&mut self, init: &Init) -> Result<(), InitError> {
        let config: Config = init.config_as()?;
        match config.fail_with {
            Some(category) => Err(InitError::new(category, "asked to fail")),
            None => Ok(()),
        }
    }

    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        match tool {
            "echo" => Ok(arguments),
            "whoami" => Ok(json!({
                "call": ctx.call_id(),
                "group": ctx.group(),
                "correlation": ctx.correlation(),
                "session": ctx.session_id(),
                "topic": ctx.envelope().topic,
            })),
            "sleep" => {
                #[derive(Deserialize)]
                struct Sleep {
                    ms: u64,
                    tag: String,
                }
                let args: Sleep = typed(arguments)?;
                std::thread::sleep(Duration::from_millis(args.ms));
                Ok(json!({"tag": args.tag}))
            }
            // Milliseconds left until the core stops waiting, or null when it did not say.
            "deadline" => Ok(json!(ctx.deadline().map(|deadline| {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
            }))),
            "fail" => Err(ToolError::retriable("the mailbox is busy")),
            "panic" => panic!("the tool broke"),
            "big" => Ok(json!({"blob": "x".repeat(2 << 20)})),
            "audit" => ctx
                .audit_log(json!({"limit": 5}))
                .map(|audit| json!({"call": ctx.call_id(), "audit": audit}))
                .map_err(|e| ToolError::new(e.to_string())),
            "rendezvous" => {
                #[derive(Deserialize)]
                struct Rendezvous {
                    calls: usize,
                }
                let args: Rendezvous = typed(arguments)?;
                if !all_arrived(args.calls) {
                    return Err(ToolError::new("the other calls never ran at the same time"));
                }
                ctx.audit_log(json!({"limit": 1}))
                    .map(|_| json!({"call": ctx.call_id()}))
                    .map_err(|e| ToolError::new(e.to_string()))
            }
            "catalog" => ctx
                .tool_catalog()
                .map_err(|e| ToolError::new(e.to_string())),
            "announce" => {
                ctx.log(Level::Info, "announcing");
                ctx.publish("message.inbound", ctx.group(), json!({"text": "hi"}))
                    .map(|()| json!({}))
                    .map_err(|e| ToolError::new(e.to_string()))
            }
            "announce_acked" => ctx
                .link()
                .publish_acked("task.triggered", ctx.group(), arguments)
                .map(|()| json!({"acked": true}))
                .map_err(|e| match e {
                    carapace_plugin_sdk::CoreError::Rejected(refusal) => ToolError::new(format!(
                        "refused {} {}",
                        refusal.data_str("code").unwrap_or(""),
                        refusal
                            .data
                            .as_ref()
                            .map(|d| d["generation"].clone())
                            .unwrap_or_default()
                    )),
                    other => ToolError::new(other.to_string()),
                }),
            other => Err(ToolError::new(format!("unknown tool `{other}`"))),
        }
    }

    fn event(&self, link: &CoreLink, envelope: Value) {
        link.log(Level::Info, format!("event {}", envelope["topic"]));
    }
}

/// Counts `rendezvous` calls in; true once `calls` of them run at the same time (5 s at most).
fn all_arrived(calls: usize) -> bool {
    static ARRIVED: Mutex<usize> = Mutex::new(0);
    static CHANGED: Condvar = Condvar::new();
    let mut arrived = ARRIVED.lock().unwrap_or_else(|e| e.into_inner());
    *arrived += 1;
    CHANGED.notify_all();
    let (arrived, waited) = CHANGED
        .wait_timeout_while(arrived, Duration::from_secs(5), |n| *n < calls)
        .unwrap_or_else(|e| e.into_inner());
    drop(arrived);
    !waited.timed_out()
}
