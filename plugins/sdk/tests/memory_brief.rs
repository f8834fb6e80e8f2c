//! `hook/memory_brief` through the SDK: a plugin that gives a brief answers with
//! it, one that does not says "method not found", and bad params are refused.

use carapace_plugin_sdk::testing::Harness;
use carapace_plugin_sdk::{
    CallContext, MemoryBrief, Plugin, ToolError, INVALID_PARAMS, METHOD_NOT_FOUND, NOT_INITIALIZED,
};
use serde_json::{json, Value};

struct Remembers;

impl Plugin for Remembers {
    fn call(&self, _: &CallContext, _: &str, _: Value) -> Result<Value, ToolError> {
        Ok(Value::Null)
    }

    fn memory_brief(&self, group: &str) -> Option<Result<MemoryBrief, ToolError>> {
        Some(Ok(MemoryBrief {
            markdown: format!("- {group} likes tea"),
            entry_count: 3,
            brief_count: 1,
        }))
    }
}

struct Forgets;

impl Plugin for Forgets {
    fn call(&self, _: &CallContext, _: &str, _: Value) -> Result<Value, ToolError> {
        Ok(Value::Null)
    }
}

#[test]
fn a_plugin_with_a_brief_answers_the_hook() {
    let harness = Harness::start(Remembers);
    let early = harness
        .request("hook/memory_brief", json!({"group": "main"}))
        .expect_err("not initialized");
    assert_eq!(early.code, NOT_INITIALIZED);
    assert_eq!(harness.initialize(json!({})), Ok(json!({})));
    assert_eq!(
        harness.request("hook/memory_brief", json!({"group": "main"})),
        Ok(json!({"markdown": "- main likes tea", "entry_count": 3, "brief_count": 1}))
    );
    let bad = harness
        .request("hook/memory_brief", json!({"group": 7}))
        .expect_err("group must be a string");
    assert_eq!(bad.code, INVALID_PARAMS);
}

#[test]
fn a_plugin_without_a_brief_says_it_does_not_serve_the_hook() {
    let harness = Harness::start(Forgets);
    assert_eq!(harness.initialize(json!({})), Ok(json!({})));
    let error = harness
        .request("hook/memory_brief", json!({"group": "main"}))
        .expect_err("no brief");
    assert_eq!(error.code, METHOD_NOT_FOUND);
    assert!(harness.stray_lines().is_empty());
}
