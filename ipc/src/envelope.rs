//! The response envelope the core sends back for every request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ErrorBody;

/// `{id, version, type, topic, source, correlation, timestamp, group, payload}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// Unique id of this response.
    pub id: String,
    /// Envelope version, [`crate::ENVELOPE_VERSION`].
    pub version: u32,
    /// Always `"response"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The topic of the request this answers (empty if it could not be read).
    pub topic: String,
    /// Who produced the answer: `core` or `plugin:<name>`.
    pub source: String,
    /// The request's correlation (empty if it could not be read).
    pub correlation: String,
    /// RFC 3339 time the response was made.
    pub timestamp: String,
    /// The session's group, from the core's own table.
    pub group: String,
    /// The result or the error.
    pub payload: Payload,
}

/// Exactly one of `result` and `error` is non-null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// The tool's result when the call succeeded.
    pub result: Option<Value>,
    /// The structured error when it did not.
    pub error: Option<ErrorBody>,
}

impl Payload {
    /// A successful payload.
    pub fn ok(result: Value) -> Payload {
        Payload {
            result: Some(result),
            error: None,
        }
    }

    /// A failed payload.
    pub fn err(error: ErrorBody) -> Payload {
        Payload {
            result: None,
            error: Some(error),
        }
    }
}
