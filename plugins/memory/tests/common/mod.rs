//! What the memory plugin's tests share: envelopes shaped like the core's, with
//! the origin the core would put in them, and the plugin run in-process on the
//! SDK's real main loop ([`Harness`]) over a temp data dir on disk.

#![allow(dead_code)]

pub mod process;

use std::path::Path;

use carapace_plugin_memory::MemoryHandler;
use carapace_plugin_sdk::testing::Harness;
use carapace_plugin_sdk::JsonRpcError;
use serde_json::{json, Value};

/// A calling session as the core would describe it in the envelope.
#[derive(Debug, Clone)]
pub struct Who {
    pub group: String,
    pub session: String,
    pub origin: Option<Value>,
}

impl Who {
    /// A session the owner started (`carapace prompt`): origin trust `owner`.
    pub fn owner(group: &str, session: &str) -> Who {
        Who::with_origin(
            group,
            session,
            Some(json!({"kind": "prompt", "plugin": null, "sender": null, "trust": "owner"})),
        )
    }

    /// A session a stranger's mail started: origin trust `unknown`.
    pub fn stranger(group: &str, session: &str) -> Who {
        Who::with_origin(
            group,
            session,
            Some(
                json!({"kind": "message", "plugin": "mail", "sender": "eve@example.org", "trust": "unknown"}),
            ),
        )
    }

    /// A session whose envelope has `origin` as given (`None`: no origin at all).
    pub fn with_origin(group: &str, session: &str, origin: Option<Value>) -> Who {
        Who {
            group: group.into(),
            session: session.into(),
            origin,
        }
    }

    /// The `tool/call` params the core would send for `tool` from this session.
    pub fn call_params(&self, tool: &str, arguments: Value) -> Value {
        let mut envelope = json!({
            "id": "7d0c2a", "version": 1, "type": "request",
            "topic": format!("tool.invoke.{tool}"),
            "source": format!("session:{}", self.session),
            "correlation": "corr-1", "timestamp": "2026-01-01T00:00:00Z",
            "group": self.group,
            "session": {"id": self.session, "started_at": "2026-01-01T00:00:00Z"},
            "payload": {"arguments": arguments},
        });
        if let Some(origin) = &self.origin {
            envelope["origin"] = origin.clone();
        }
        json!({"tool": tool, "envelope": envelope})
    }
}

/// `initialize` params for a data dir and config.
pub fn init_params(data_dir: &Path, config: Value) -> Value {
    json!({
        "plugin": "memory", "version": "0.1.0", "config": config,
        "data_dir": data_dir, "credentials_dir": null,
    })
}

/// The plugin in-process, initialized on `data_dir` with the default config.
pub fn start(data_dir: &Path) -> Harness {
    let harness = Harness::start(MemoryHandler::default());
    harness
        .initialize_with(init_params(data_dir, json!({})))
        .expect("initialize");
    harness
}

/// Calls `tool` as `who`.
pub fn call(
    harness: &Harness,
    who: &Who,
    tool: &str,
    arguments: Value,
) -> Result<Value, JsonRpcError> {
    harness.request("tool/call", who.call_params(tool, arguments))
}

/// Stores `content` of `kind` as `who`; the stored entry.
pub fn store(harness: &Harness, who: &Who, kind: &str, content: &str) -> Value {
    call(
        harness,
        who,
        "memory_store",
        json!({"type": kind, "content": content}),
    )
    .unwrap_or_else(|e| panic!("store {content:?}: {e:?}"))
}

/// The brief a new session the owner started in `group` gets.
pub fn brief(harness: &Harness, group: &str) -> Value {
    brief_as(harness, &Who::owner(group, "s-new-owner-session"))
}

/// The brief the new session `who` gets, as the core asks for it.
pub fn brief_as(harness: &Harness, who: &Who) -> Value {
    harness
        .request(
            "hook/memory_brief",
            json!({"group": who.group, "session": who.session, "origin": who.origin}),
        )
        .expect("a brief")
}

/// `data.code` and `data.field` of a tool error.
pub fn code_and_field(error: &JsonRpcError) -> (Option<&str>, Option<&str>) {
    (error.data_str("code"), error.data_str("field"))
}
