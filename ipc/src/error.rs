//! Error codes and the structured error body every refusal carries.

use serde::{Deserialize, Serialize};

/// Every error code a caller can see (DESIGN.md §2), plus the client's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The message could not be parsed as a wire request.
    MalformedMessage,
    /// The message, or one argument, is over its size limit.
    PayloadTooLarge,
    /// Stage 2: the topic names no tool in the catalog.
    UnknownTool,
    /// Stage 3: the arguments do not pass the tool's schema.
    ValidationFailed,
    /// Stage 4: the session's group may not call this tool.
    Unauthorized,
    /// Stage 4: the session is over its rate limit for this tool.
    RateLimited,
    /// Stage 4: the session's group is paused (the kill switch).
    GroupPaused,
    /// Stage 5: nobody decided on the high-risk call in time.
    ConfirmationTimeout,
    /// Stage 5: the user refused the high-risk call.
    ConfirmationDenied,
    /// Stage 6: the plugin did not answer before the deadline.
    PluginTimeout,
    /// Stage 6: the plugin is not running.
    PluginUnavailable,
    /// Stage 6: the plugin failed (details only in the audit log).
    PluginError,
    /// The tool itself reported an error.
    HandlerError,
    /// Stage 6: the audit log cannot be written, so no call runs until it can.
    AuditUnavailable,
    /// Client side: no answer before the `ipc` timeout.
    Timeout,
    /// Client side: the core's socket could not be reached.
    ConnectionFailed,
}

impl ErrorCode {
    /// The pipeline stage that produces this code, if any.
    pub fn stage(self) -> Option<u8> {
        match self {
            ErrorCode::UnknownTool => Some(2),
            ErrorCode::ValidationFailed => Some(3),
            ErrorCode::Unauthorized | ErrorCode::RateLimited | ErrorCode::GroupPaused => Some(4),
            ErrorCode::ConfirmationTimeout | ErrorCode::ConfirmationDenied => Some(5),
            ErrorCode::PluginTimeout
            | ErrorCode::PluginUnavailable
            | ErrorCode::PluginError
            | ErrorCode::AuditUnavailable => Some(6),
            _ => None,
        }
    }

    /// Whether the same call may succeed if tried again later.
    pub fn retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::ConfirmationTimeout
                | ErrorCode::PluginTimeout
                | ErrorCode::PluginUnavailable
                | ErrorCode::AuditUnavailable
                | ErrorCode::Timeout
                | ErrorCode::ConnectionFailed
        )
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => "MALFORMED_MESSAGE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnknownTool => "UNKNOWN_TOOL",
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::GroupPaused => "GROUP_PAUSED",
            ErrorCode::ConfirmationTimeout => "CONFIRMATION_TIMEOUT",
            ErrorCode::ConfirmationDenied => "CONFIRMATION_DENIED",
            ErrorCode::PluginTimeout => "PLUGIN_TIMEOUT",
            ErrorCode::PluginUnavailable => "PLUGIN_UNAVAILABLE",
            ErrorCode::PluginError => "PLUGIN_ERROR",
            ErrorCode::HandlerError => "HANDLER_ERROR",
            ErrorCode::AuditUnavailable => "AUDIT_UNAVAILABLE",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::ConnectionFailed => "CONNECTION_FAILED",
        }
    }

    /// Parses a wire code; `None` for anything not in the list.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The structured error of a response: `{code, message, retriable, stage?, field?, retry_after?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// A message for the agent; never a path, a backtrace or a plugin's stderr.
    pub message: String,
    /// Whether trying again later may succeed.
    pub retriable: bool,
    /// The pipeline stage that refused the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<u8>,
    /// The offending field or property, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before trying again (rate limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    /// An error with the code's own stage and retriability.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code,
            message: message.into(),
            retriable: code.retriable(),
            stage: code.stage(),
            field: None,
            retry_after: None,
        }
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> ErrorBody {
        self.field = Some(field.into());
        self
    }

    /// Sets the seconds to wait before a retry.
    pub fn with_retry_after(mut self, seconds: u64) -> ErrorBody {
        self.retry_after = Some(seconds);
        self
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_wire_names() {
        for code in [
            ErrorCode::MalformedMessage,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnknownTool,
            ErrorCode::ValidationFailed,
            ErrorCode::Unauthorized,
            ErrorCode::RateLimited,
            ErrorCode::GroupPaused,
            ErrorCode::ConfirmationTimeout,
            ErrorCode::ConfirmationDenied,
            ErrorCode::PluginTimeout,
            ErrorCode::PluginUnavailable,
            ErrorCode::PluginError,
            ErrorCode::HandlerError,
            ErrorCode::AuditUnavailable,
            ErrorCode::Timeout,
            ErrorCode::ConnectionFailed,
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert_eq!(ErrorCode::parse("NOT_A_CODE"), None);
    }

    #[test]
    fn optional_fields_are_left_out_when_absent() {
        let body = ErrorBody::new(ErrorCode::UnknownTool, "no such tool");
        let json = serde_json::to_value(&body).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"code":"UNKNOWN_TOOL","message":"no such tool","retriable":false,"stage":2})
        );
    }
}
