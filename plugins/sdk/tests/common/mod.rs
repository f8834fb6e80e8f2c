//! A plugin with one tool per behaviour the SDK tests need.

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
            "fail" => Err(ToolError::retriable("the mailbox is busy")),
            "panic" => panic!("the tool broke"),
            "big" => Ok(json!({"blob": "x".repeat(2 << 20)})),
            "audit" => ctx
                .audit_log(json!({"limit": 5}))
                .map(|audit| json!({"call": ctx.call_id(), "audit": audit}))
                .map_err(|e| ToolError::new(e.to_string())),
            "catalog" => ctx
                .tool_catalog()
                .map_err(|e| ToolError::new(e.to_string())),
            "announce" => {
                ctx.log(Level::Info, "announcing");
                ctx.publish("message.inbound", ctx.group(), json!({"text": "hi"}))
                    .map(|()| json!({}))
                    .map_err(|e| ToolError::new(e.to_string()))
            }
            other => Err(ToolError::new(format!("unknown tool `{other}`"))),
        }
    }

    fn event(&self, link: &CoreLink, envelope: Value) {
        link.log(Level::Info, format!("event {}", envelope["topic"]));
    }
}
