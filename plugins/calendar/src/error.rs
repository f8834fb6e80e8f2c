//! The plugin's errors, and the one place they become what the core and the agent see
//! ([`CalError::into_tool`], [`CalError::into_init`]).
//!
//! Must never: put a password, a token, an `Authorization` header or an event's text
//! in an error message (messages reach the agent and the log).

use carapace_plugin_sdk::{InitError, ToolError};

/// Everything that can go wrong talking to a CalDAV server or reading what it sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalError {
    /// The plugin's config is wrong (named in the message).
    #[error("config: {0}")]
    Config(String),
    /// The server refused the credentials (HTTP 401/403).
    #[error("AUTH_ERROR: the calendar server refused the credentials (HTTP {0})")]
    Auth(u16),
    /// The server could not be reached (DNS, refused, reset).
    #[error("the calendar server cannot be reached ({0})")]
    Unreachable(String),
    /// The OAuth2 token endpoint refused the refresh token (revoked, expired): the
    /// endpoint's error code.
    #[error("AUTH_ERROR: the OAuth2 refresh token was refused ({0}); run `carapace auth login --plugin calendar`")]
    Revoked(String),
    /// The server did not answer in time.
    #[error("the calendar server did not answer in time")]
    Timeout,
    /// TLS failed (unknown CA, wrong name).
    #[error("TLS with the calendar server failed ({0})")]
    Tls(String),
    /// An HTTP status the step did not expect.
    #[error("the calendar server answered HTTP {status} to {step}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What the plugin was doing.
        step: &'static str,
    },
    /// What the server sent cannot be read (XML, iCalendar, headers).
    #[error("the calendar server sent something unreadable: {0}")]
    Malformed(String),
    /// An answer was larger than the plugin reads.
    #[error("the calendar server's answer is over {0} bytes")]
    TooLarge(u64),
    /// Discovery found no calendar.
    #[error("no calendar found: {0}")]
    Discovery(String),
    /// An argument passed the schema but not the plugin's rules.
    #[error("{message}")]
    Invalid {
        /// The argument at fault.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// Someone changed the event between our read and our write (HTTP 412).
    #[error("the event changed on the server meanwhile (HTTP 412); list it again and retry")]
    Conflict,
}

impl CalError {
    /// A validation failure of `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> CalError {
        CalError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Whether the same call may work later (the server was down, slow or busy).
    pub fn retriable(&self) -> bool {
        match self {
            CalError::Unreachable(_) | CalError::Timeout | CalError::Conflict => true,
            CalError::Status { status, .. } => *status >= 500 || *status == 429,
            CalError::Config(_)
            | CalError::Auth(_)
            | CalError::Revoked(_)
            | CalError::Tls(_)
            | CalError::Malformed(_)
            | CalError::TooLarge(_)
            | CalError::Discovery(_)
            | CalError::Invalid { .. } => false,
        }
    }

    /// What the agent sees.
    pub fn into_tool(self) -> ToolError {
        match self {
            CalError::Invalid { field, message } => ToolError::invalid(field, message),
            other => {
                let retriable = other.retriable();
                let mut error = ToolError::new(other.to_string());
                error.retriable = retriable;
                error
            }
        }
    }

    /// What the core is told when `initialize` fails with this.
    pub fn into_init(self) -> InitError {
        let message = self.to_string();
        match self {
            CalError::Auth(_) | CalError::Revoked(_) => InitError::auth(message),
            CalError::Config(_) | CalError::Invalid { .. } | CalError::Discovery(_) => {
                InitError::config(message)
            }
            CalError::Unreachable(_) | CalError::Timeout | CalError::Tls(_) => {
                InitError::network(message)
            }
            CalError::Status { .. }
            | CalError::Malformed(_)
            | CalError::TooLarge(_)
            | CalError::Conflict => InitError::network(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carapace_plugin_sdk::{Category, ToolCode};

    #[test]
    fn each_error_has_its_code() {
        let invalid = CalError::invalid("from", "bad").into_tool();
        assert_eq!(invalid.code, ToolCode::ValidationFailed);
        assert_eq!(invalid.field.as_deref(), Some("from"));
        assert!(CalError::Timeout.into_tool().retriable);
        assert!(!CalError::Auth(401).into_tool().retriable);
        assert!(CalError::Auth(401)
            .into_tool()
            .message
            .starts_with("AUTH_ERROR"));
        assert_eq!(
            CalError::Auth(401).into_init().category,
            Category::AuthError
        );
        assert_eq!(
            CalError::Unreachable("refused".into()).into_init().category,
            Category::NetworkError
        );
    }
}
