//! The echo plugin's handler: `echo` and `echo_sensitive` answer `{text}` with the text they get.
//!
//! `echo_sensitive` is high risk in the manifest, so the core only routes it
//! here after the user approved; the handler itself does nothing different.

use std::process::ExitCode;

use carapace_plugin_sdk::{run, CallContext, Plugin, ToolError};
use serde::Deserialize;
use serde_json::{json, Value};

/// `echo` arguments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EchoArgs {
    text: String,
    #[serde(default)]
    uppercase: bool,
}

/// `echo_sensitive` arguments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SensitiveArgs {
    text: String,
}

/// The plugin: no state.
struct Echo;

impl Plugin for Echo {
    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        match tool {
            "echo" => {
                let args: EchoArgs = ctx.args(arguments)?;
                let text = if args.uppercase {
                    args.text.to_uppercase()
                } else {
                    args.text
                };
                Ok(json!({ "text": text }))
            }
            "echo_sensitive" => {
                let args: SensitiveArgs = ctx.args(arguments)?;
                Ok(json!({ "text": args.text }))
            }
            other => Err(ToolError::new(format!("unknown tool `{other}`"))),
        }
    }
}

fn main() -> ExitCode {
    run(Echo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use carapace_plugin_sdk::testing::Harness;

    #[test]
    fn echoes_and_uppercases() {
        let harness = Harness::start(Echo);
        assert_eq!(harness.initialize(json!({})), Ok(json!({})));
        assert_eq!(
            harness.call("echo", json!({"text": "hello"})),
            Ok(json!({"text": "hello"}))
        );
        assert_eq!(
            harness.call("echo", json!({"text": "héllo", "uppercase": true})),
            Ok(json!({"text": "HÉLLO"}))
        );
        assert_eq!(
            harness.call("echo_sensitive", json!({"text": "ok"})),
            Ok(json!({"text": "ok"}))
        );
    }

    #[test]
    fn bad_arguments_and_unknown_tools_are_tool_errors() {
        let harness = Harness::start(Echo);
        assert!(harness.initialize(json!({})).is_ok());
        let error = harness
            .call("echo", json!({"text": 5}))
            .expect_err("wrong type");
        assert_eq!(error.data_str("code"), Some("HANDLER_ERROR"));
        let error = harness
            .call("echo_sensitive", json!({"text": "x", "uppercase": true}))
            .expect_err("unknown field");
        assert!(error.message.contains("invalid arguments"), "{error}");
        let error = harness.call("nope", json!({})).expect_err("unknown tool");
        assert_eq!(error.message, "unknown tool `nope`");
    }
}
