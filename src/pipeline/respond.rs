//! The response path: sanitize, cap the size, audit (unless the refusal is
//! only counted), serialize.
//!
//! Must never send a matched credential or log one: only JSON paths of
//! redactions are recorded.

use std::sync::Arc;

use carapace_ipc::{ErrorBody, ENVELOPE_VERSION, MAX_MESSAGE_BYTES};

use crate::refusal::Refusal;
use serde::Serialize;
use serde_json::{json, Value};

use super::Outcome;
use crate::core::Core;
use crate::session::Session;

/// Longest topic echoed back (and audited); a longer one is never a tool's, and
/// is answered with an empty topic, as the wire parser does for its own refusals.
const MAX_ECHOED_TOPIC: usize = 256;

/// Turns an outcome into the bytes sent back to the container.
pub fn finish(core: &Core, session: &Arc<Session>, outcome: Outcome) -> Vec<u8> {
    let Outcome {
        topic,
        correlation,
        source,
        result,
        audited,
    } = outcome;
    let topic = if topic.len() <= MAX_ECHOED_TOPIC {
        topic
    } else {
        String::new()
    };
    let mut payload = match result {
        Ok(value) => json!({"result": value, "error": null}),
        Err(error) => json!({"result": null, "error": error}),
    };
    let redactions = core.sanitizer.sanitize(&mut payload);
    if audited && !redactions.is_empty() {
        let paths: Vec<Value> = redactions
            .iter()
            .map(|r| json!({"path": r.path, "kind": r.kind}))
            .collect();
        core.audit(
            session,
            "response.redacted",
            json!({"correlation": correlation, "redactions": paths}),
        );
    }
    let mut envelope = Outgoing {
        id: crate::ids::new_uuid(),
        version: ENVELOPE_VERSION,
        kind: "response",
        topic: &topic,
        source: &source,
        correlation: &correlation,
        timestamp: crate::time::now_rfc3339(),
        group: &session.group,
        payload: &payload,
    };
    let mut bytes = serde_json::to_vec(&envelope).unwrap_or_default();
    let mut capped = None;
    if bytes.len() > MAX_MESSAGE_BYTES {
        if audited {
            core.audit(
                session,
                "response.too_large",
                json!({"correlation": correlation, "bytes": bytes.len()}),
            );
        }
        let error = ErrorBody::from(Refusal::AnswerTooLarge {
            limit: MAX_MESSAGE_BYTES,
        });
        let replacement = capped.insert(json!({"result": null, "error": error}));
        envelope.source = "core";
        envelope.payload = replacement;
        bytes = serde_json::to_vec(&envelope).unwrap_or_default();
    }
    let code = envelope
        .payload
        .get("error")
        .and_then(|e| e.get("code"))
        .cloned()
        .unwrap_or(Value::Null);
    if audited {
        core.audit(
            session,
            "response.sent",
            json!({"correlation": correlation, "topic": topic, "code": code, "bytes": bytes.len()}),
        );
    }
    bytes
}

/// The response envelope of DESIGN.md §2, borrowing an already-sanitized payload.
#[derive(Serialize)]
struct Outgoing<'a> {
    id: String,
    version: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    topic: &'a str,
    source: &'a str,
    correlation: &'a str,
    timestamp: String,
    group: &'a str,
    payload: &'a Value,
}
