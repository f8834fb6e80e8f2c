//! Stage 1: build the call's identity from the core's session table.
//!
//! Must never take group, session, origin or time from the message.

use std::sync::Arc;

use carapace_ipc::{WireRequest, ENVELOPE_VERSION};
use serde_json::{json, Value};

use crate::session::Session;

/// A request with its identity attached by the core.
#[derive(Debug)]
pub struct Call {
    /// Unique id of this request, made by the core.
    pub request_id: String,
    /// The session whose socket the message arrived on.
    pub session: Arc<Session>,
    /// The wire topic.
    pub topic: String,
    /// The caller's correlation.
    pub correlation: String,
    /// The arguments object, not yet validated.
    pub arguments: Value,
    /// RFC 3339 time of arrival.
    pub received_at: String,
}

/// Stage 1: attaches the session's identity to a parsed wire request.
pub fn construct(session: &Arc<Session>, wire: WireRequest) -> Call {
    Call {
        request_id: crate::ids::new_uuid(),
        session: Arc::clone(session),
        topic: wire.topic,
        correlation: wire.correlation,
        arguments: Value::Object(wire.arguments),
        received_at: crate::time::now_rfc3339(),
    }
}

impl Call {
    /// The request envelope handed to a plugin (`payload.arguments` validated by then);
    /// `origin` is the session's, from the table: the agent's arguments stay under
    /// `payload.arguments`, whatever keys they hold.
    pub fn envelope(&self) -> Value {
        json!({
            "id": self.request_id,
            "version": ENVELOPE_VERSION,
            "type": "request",
            "topic": self.topic,
            "source": format!("session:{}", self.session.id),
            "correlation": self.correlation,
            "timestamp": self.received_at,
            "group": self.session.group,
            "session": {"id": self.session.id, "started_at": self.session.started_at},
            "origin": self.session.origin,
            "payload": {"arguments": self.arguments},
        })
    }
}
