//! Errors a plugin returns, and the JSON-RPC error objects they become on the wire.
//!
//! The mapping to the wire is here and nowhere else: a [`ToolError`] becomes
//! `{code: -32000, message, data: {code, retriable, field?}}` (`code` one of [`ToolCode`]), an
//! [`InitError`] becomes `{code: -32000, message, data: {category}}`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// JSON-RPC code: the request is not valid now (a second `initialize`).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC code: the method is not served by this plugin.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC code: the params do not have the shape the method needs.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC code: the handler failed unexpectedly (a panic in the tool).
pub const INTERNAL_ERROR: i64 = -32603;
/// JSON-RPC code of a tool's own error and of a failed `initialize`.
pub const SERVER_ERROR: i64 = -32000;
/// JSON-RPC code: a `tool/call` arrived before a successful `initialize`.
pub const NOT_INITIALIZED: i64 = -32002;
/// The `data.code` of every tool error (the core normalises any other to it).
pub const HANDLER_ERROR: &str = "HANDLER_ERROR";

/// A JSON-RPC 2.0 error object, as sent or received on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("JSON-RPC error {code}: {message}")]
pub struct JsonRpcError {
    /// The numeric JSON-RPC code.
    pub code: i64,
    /// A short text.
    pub message: String,
    /// Structured details (`{code, retriable}` for tool errors, `{category}` for init errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl JsonRpcError {
    /// An error without `data`.
    pub fn new(code: i64, message: impl Into<String>) -> JsonRpcError {
        JsonRpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The string at `data.<key>`, if any.
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.as_ref()?.get(key)?.as_str()
    }

    /// `data.retriable`, false when absent.
    pub fn retriable(&self) -> bool {
        self.data
            .as_ref()
            .and_then(|d| d.get("retriable"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// A tool's own failure; its message is shown to the agent, so keep paths and secrets out of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    /// What went wrong, for the agent.
    pub message: String,
    /// Whether the same call may succeed if tried again later.
    pub retriable: bool,
    /// The public code the tool asks for (one of the few a tool may choose).
    pub code: ToolCode,
    /// The argument at fault, dotted, for [`ToolCode::ValidationFailed`].
    pub field: Option<String>,
}

/// The codes a tool may give its own failure. The core passes exactly these on
/// and turns anything else a handler claims into `HANDLER_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ToolCode {
    /// The tool failed (the default).
    HandlerError,
    /// A limit the tool keeps (e.g. per session) is reached.
    RateLimited,
    /// An argument passed the schema but not the tool's own rules.
    ValidationFailed,
}

impl ToolCode {
    /// The wire name, e.g. `RATE_LIMITED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolCode::HandlerError => HANDLER_ERROR,
            ToolCode::RateLimited => "RATE_LIMITED",
            ToolCode::ValidationFailed => "VALIDATION_FAILED",
        }
    }
}

impl ToolError {
    /// A failure that will not go away by retrying.
    pub fn new(message: impl Into<String>) -> ToolError {
        ToolError {
            message: message.into(),
            retriable: false,
            code: ToolCode::HandlerError,
            field: None,
        }
    }

    /// A failure worth retrying later (a timeout, a busy upstream).
    pub fn retriable(message: impl Into<String>) -> ToolError {
        ToolError {
            retriable: true,
            ..ToolError::new(message)
        }
    }

    /// `RATE_LIMITED`: a limit the tool keeps is reached (retriable: a later session may).
    pub fn rate_limited(message: impl Into<String>) -> ToolError {
        ToolError {
            retriable: true,
            code: ToolCode::RateLimited,
            ..ToolError::new(message)
        }
    }

    /// `VALIDATION_FAILED` naming `field` (dotted): the value passed the schema but
    /// not the tool's own rules (a cron text, a time zone, an unknown id).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ToolError {
        ToolError {
            code: ToolCode::ValidationFailed,
            field: Some(field.into()),
            ..ToolError::new(message)
        }
    }
}

impl From<ToolError> for JsonRpcError {
    fn from(error: ToolError) -> JsonRpcError {
        let mut data = json!({"code": error.code.as_str(), "retriable": error.retriable});
        if let Some(field) = error.field {
            data["field"] = json!(field);
        }
        JsonRpcError {
            code: SERVER_ERROR,
            message: error.message,
            data: Some(data),
        }
    }
}

/// The closed set of reasons a plugin can give for failing `initialize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    /// An upstream could not be reached.
    NetworkError,
    /// A credential is missing or was refused.
    AuthError,
    /// The plugin's config is wrong.
    ConfigError,
    /// Anything else.
    InternalError,
}

impl Category {
    /// The wire name, e.g. `CONFIG_ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NetworkError => "NETWORK_ERROR",
            Category::AuthError => "AUTH_ERROR",
            Category::ConfigError => "CONFIG_ERROR",
            Category::InternalError => "INTERNAL_ERROR",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `initialize` failed; the core reports the plugin with `category` and leaves its tools out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{category}: {message}")]
pub struct InitError {
    /// The closed category the core shows.
    pub category: Category,
    /// Details for the core's log.
    pub message: String,
}

impl InitError {
    /// An error of `category`.
    pub fn new(category: Category, message: impl Into<String>) -> InitError {
        InitError {
            category,
            message: message.into(),
        }
    }

    /// `NETWORK_ERROR`.
    pub fn network(message: impl Into<String>) -> InitError {
        InitError::new(Category::NetworkError, message)
    }

    /// `AUTH_ERROR`.
    pub fn auth(message: impl Into<String>) -> InitError {
        InitError::new(Category::AuthError, message)
    }

    /// `CONFIG_ERROR`.
    pub fn config(message: impl Into<String>) -> InitError {
        InitError::new(Category::ConfigError, message)
    }

    /// `INTERNAL_ERROR`.
    pub fn internal(message: impl Into<String>) -> InitError {
        InitError::new(Category::InternalError, message)
    }
}

impl From<InitError> for JsonRpcError {
    fn from(error: InitError) -> JsonRpcError {
        JsonRpcError {
            code: SERVER_ERROR,
            message: error.message,
            data: Some(json!({"category": error.category})),
        }
    }
}

/// Why a message to the core (request or notification) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// The core answered with an error.
    #[error("the core refused the request: {0}")]
    Rejected(JsonRpcError),
    /// No answer came in time.
    #[error("the core did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection to the core is closed (stdin ended or stdout broke).
    #[error("the connection to the core is closed")]
    Disconnected,
    /// The message would be over the line limit the core accepts.
    #[error("the message is {0} bytes, over the line limit")]
    TooLarge(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_and_init_errors_have_the_wire_shape() {
        let wire = serde_json::to_value(JsonRpcError::from(ToolError::retriable("busy")))
            .expect("serializable");
        assert_eq!(
            wire,
            json!({"code": -32000, "message": "busy", "data": {"code": "HANDLER_ERROR", "retriable": true}})
        );
        let wire = serde_json::to_value(JsonRpcError::from(InitError::auth("no token")))
            .expect("serializable");
        assert_eq!(
            wire,
            json!({"code": -32000, "message": "no token", "data": {"category": "AUTH_ERROR"}})
        );
        let wire = serde_json::to_value(JsonRpcError::from(ToolError::rate_limited("20 stores")))
            .expect("serializable");
        assert_eq!(
            wire["data"],
            json!({"code": "RATE_LIMITED", "retriable": true})
        );
        let wire = serde_json::to_value(JsonRpcError::from(ToolError::invalid("tz", "unknown")))
            .expect("serializable");
        assert_eq!(
            wire["data"],
            json!({"code": "VALIDATION_FAILED", "retriable": false, "field": "tz"})
        );
    }
}
