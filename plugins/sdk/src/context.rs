//! What a tool call knows about itself: its id, its envelope, and a link back to the core.

use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CoreError, ToolError};
use crate::link::{CoreLink, Level};

/// The request envelope the core built for a call (DESIGN §2), without its arguments.
///
/// Every field comes from the core's session table, never from the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The core's id for this request.
    #[serde(default)]
    pub id: String,
    /// `tool.invoke.<name>`.
    #[serde(default)]
    pub topic: String,
    /// `session:<id>`.
    #[serde(default)]
    pub source: String,
    /// The agent's correlation id.
    #[serde(default)]
    pub correlation: String,
    /// RFC 3339 time of arrival.
    #[serde(default)]
    pub timestamp: String,
    /// The group the calling session belongs to.
    #[serde(default)]
    pub group: String,
    /// The calling session.
    #[serde(default)]
    pub session: Option<SessionRef>,
    /// What started the calling session, from the core's session table (DESIGN §8).
    /// `None` only from a core older than origins: treat it as untrusted.
    #[serde(default)]
    pub origin: Option<Origin>,
}

/// What started a session: `kind` is `prompt`, `message`, `task` or `open`;
/// `trust` is `owner`, `contact` or `unknown`. The core fills it from its own
/// session table; the agent cannot set any of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// `prompt` (the person at the CLI), `message` (a channel's inbound message),
    /// `task` (the scheduler) or `open` (`carapace session open`).
    #[serde(default)]
    pub kind: String,
    /// The channel or scheduler plugin that started it, if any.
    #[serde(default)]
    pub plugin: Option<String>,
    /// The sender that plugin reported, if any.
    #[serde(default)]
    pub sender: Option<String>,
    /// `owner`, `contact` or `unknown`.
    #[serde(default)]
    pub trust: String,
}

impl Origin {
    /// Whether the session counts as the owner's own: its trust is `owner`.
    pub fn is_owner(&self) -> bool {
        self.trust == "owner"
    }
}

/// The session a call came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionRef {
    /// The session id.
    #[serde(default)]
    pub id: String,
    /// When the session started, as the core wrote it.
    #[serde(default)]
    pub started_at: Value,
}

/// Turns validated arguments into `T`; a mismatch becomes a non-retriable [`ToolError`].
pub fn typed<T: DeserializeOwned>(arguments: Value) -> Result<T, ToolError> {
    serde_json::from_value(arguments).map_err(|e| ToolError::new(format!("invalid arguments: {e}")))
}

/// One in-flight `tool/call`.
pub struct CallContext {
    call_id: Value,
    envelope: Envelope,
    link: CoreLink,
    deadline: Option<Instant>,
}

impl CallContext {
    pub(crate) fn new(
        call_id: Value,
        envelope: Envelope,
        link: CoreLink,
        deadline: Option<Instant>,
    ) -> CallContext {
        CallContext {
            call_id,
            envelope,
            link,
            deadline,
        }
    }

    /// When the core stops waiting for this call's answer, if the core said (`deadline_ms`).
    ///
    /// Counted from when the request arrived, and at most a day ahead. `None`
    /// from a core that does not say, or said something that is not a
    /// non-negative whole number of milliseconds. A tool of several steps
    /// (send a mail, then store a copy) can check it before each step.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The JSON-RPC id of this `tool/call` (what `services/*` requests name as `call`).
    pub fn call_id(&self) -> &Value {
        &self.call_id
    }

    /// The request envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The calling session's group.
    pub fn group(&self) -> &str {
        &self.envelope.group
    }

    /// The agent's correlation id.
    pub fn correlation(&self) -> &str {
        &self.envelope.correlation
    }

    /// What started the calling session (`None` from a core without origins).
    pub fn origin(&self) -> Option<&Origin> {
        self.envelope.origin.as_ref()
    }

    /// The calling session's id, if the envelope names one.
    pub fn session_id(&self) -> Option<&str> {
        self.envelope.session.as_ref().map(|s| s.id.as_str())
    }

    /// The arguments as `T` (see [`typed`]).
    pub fn args<T: DeserializeOwned>(&self, arguments: Value) -> Result<T, ToolError> {
        typed(arguments)
    }

    /// The link to the core, to keep beyond this call (e.g. for a background publisher).
    pub fn link(&self) -> &CoreLink {
        &self.link
    }

    /// Sends a `log` notification.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        self.link.log(level, message);
    }

    /// Sends an `event/publish` notification.
    pub fn publish(&self, topic: &str, group: &str, payload: Value) -> Result<(), CoreError> {
        self.link.publish(topic, group, payload)
    }

    /// Sends a plugin -> core request and blocks until the core answers it.
    pub fn request(&self, method: &str, params: Value) -> Result<Value, CoreError> {
        self.link.request(method, params)
    }

    /// `services/audit_log` for this call's group; `filters` (an object) are passed along.
    pub fn audit_log(&self, filters: Value) -> Result<Value, CoreError> {
        self.request("services/audit_log", self.scoped(filters))
    }

    /// `services/session_info` for this call's group.
    pub fn session_info(&self) -> Result<Value, CoreError> {
        self.request("services/session_info", self.scoped(Value::Null))
    }

    /// `services/tool_catalog`: `[{name, description, risk_level}]`, the tools this call's
    /// group may use (the core scopes it by `call`, like the other services).
    pub fn tool_catalog(&self) -> Result<Value, CoreError> {
        self.request("services/tool_catalog", self.scoped(Value::Null))
    }

    /// `filters` with `call` set to this call's id.
    fn scoped(&self, filters: Value) -> Value {
        let mut params = match filters {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        params.insert("call".into(), self.call_id.clone());
        Value::Object(params)
    }
}
