//! The trait a plugin implements.

use serde_json::Value;

use crate::context::{CallContext, Origin};
use crate::error::{InitError, ToolError};
use crate::init::Init;
use crate::link::CoreLink;

/// A plugin handler. The SDK owns the protocol; the plugin only answers.
///
/// `call` may run on up to [`MAX_CONCURRENT_CALLS`](crate::MAX_CONCURRENT_CALLS)
/// threads at once, hence `Sync`: keep mutable state behind a `Mutex`.
pub trait Plugin: Send + Sync + 'static {
    /// Called for `initialize`, before any call. An error leaves the plugin out of the
    /// catalog with the error's category.
    fn initialize(&mut self, init: &Init) -> Result<(), InitError> {
        let _ = init;
        Ok(())
    }

    /// Answers one `tool/call`. `arguments` were already validated against the tool's schema.
    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError>;

    /// Called once, right after a successful `initialize` has been answered, on a thread
    /// of its own: the place for background work that talks to the core without a call
    /// in flight (a channel's polling loop publishing `message.inbound`). It may run as
    /// long as the plugin lives: the process exits without waiting for it, and a loop
    /// should end once [`CoreLink::is_closed`] says the core went away. A panic in it is
    /// caught; the plugin keeps serving. The default does nothing.
    fn started(&self, link: &CoreLink) {
        let _ = link;
    }

    /// Called when the core sends `shutdown`, once the calls in flight are done and
    /// before the answer (after which the process exits): the place to let background
    /// work finish what it is in the middle of (e.g. record how far it got). Keep it
    /// short: the core kills a plugin 10 s after `shutdown`. The default does nothing.
    fn stopping(&self) {}

    /// Receives an `event {envelope}` notification (topics the manifest `subscribes` to).
    /// The default ignores it.
    fn event(&self, link: &CoreLink, envelope: Value) {
        let _ = (link, envelope);
    }

    /// Answers `hook/memory_brief {group}` for a plugin whose manifest lists the
    /// `memory_brief` hook: what a new session of `group` should remember, as
    /// Markdown. `None` (the default) means the plugin does not serve the hook,
    /// answered as JSON-RPC "method not found"; the core then briefs nothing.
    fn memory_brief(&self, group: &str) -> Option<Result<MemoryBrief, ToolError>> {
        let _ = group;
        None
    }

    /// Answers `hook/memory_brief {group, session, origin}` knowing which session
    /// the brief is for (a plugin may then record what that session was shown).
    /// The default answers [`Plugin::memory_brief`] for the group.
    fn memory_brief_for(&self, request: &BriefRequest) -> Option<Result<MemoryBrief, ToolError>> {
        self.memory_brief(&request.group)
    }
}

/// What `hook/memory_brief` asks: the group, and the new session it briefs (its id
/// and origin, from the core's session table; `None` from an older core).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct BriefRequest {
    /// The session's group.
    pub group: String,
    /// The new session's id.
    #[serde(default)]
    pub session: Option<String>,
    /// What started it.
    #[serde(default)]
    pub origin: Option<Origin>,
}

/// The answer to `hook/memory_brief`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemoryBrief {
    /// The brief, as Markdown (the core caps it at 64 KiB and redacts credentials).
    pub markdown: String,
    /// Entries the plugin holds for the group.
    pub entry_count: u64,
    /// Entries the brief covers.
    pub brief_count: u64,
}
