//! Reading the Bot API's answer: `{"ok": true, "result": ...}` or
//! `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`.
//!
//! A description from the server is kept short and printable; it never holds the URL.

use std::time::Duration;

use serde_json::Value;

use super::transport::{HttpReply, TransportError};

/// Longest description kept from an error answer.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// Why a Bot API call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No answer: the network, TLS, a timeout.
    #[error("{0}")]
    Transport(#[from] TransportError),
    /// 429: try again after this long.
    #[error("rate limited by the Bot API for {retry_after:?}")]
    RateLimited {
        /// The server's `parameters.retry_after`.
        retry_after: Duration,
    },
    /// 400: the request was wrong (e.g. text it could not parse as HTML).
    #[error("the Bot API refused the request (400): {description}")]
    BadRequest {
        /// What the server said.
        description: String,
    },
    /// Another 4xx (401 bad token, 403 blocked by the user, 409 another poller, ...).
    #[error("the Bot API refused the request ({status}): {description}")]
    Refused {
        /// The HTTP status or `error_code`.
        status: u16,
        /// What the server said.
        description: String,
    },
    /// 5xx: the server failed.
    #[error("the Bot API failed ({status})")]
    Server {
        /// The status.
        status: u16,
    },
    /// Not the Bot API's JSON.
    #[error("the Bot API's answer was not understood (HTTP {status})")]
    Malformed {
        /// The status.
        status: u16,
    },
}

/// The `result` of a successful answer, or why there is none.
pub fn read(reply: &HttpReply) -> Result<Value, ApiError> {
    let parsed: Option<Value> = serde_json::from_slice(&reply.body).ok();
    let Some(Value::Object(mut answer)) = parsed else {
        return Err(by_status(reply.status, String::new(), None));
    };
    if answer.get("ok") == Some(&Value::Bool(true)) && (200..300).contains(&reply.status) {
        return Ok(answer.remove("result").unwrap_or(Value::Null));
    }
    let code = answer
        .get("error_code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(reply.status);
    let description = answer
        .get("description")
        .and_then(Value::as_str)
        .map(printable)
        .unwrap_or_default();
    let retry_after = answer
        .get("parameters")
        .and_then(|p| p.get("retry_after"))
        .and_then(Value::as_u64);
    Err(by_status(code, description, retry_after))
}

fn by_status(status: u16, description: String, retry_after: Option<u64>) -> ApiError {
    match status {
        429 => ApiError::RateLimited {
            retry_after: Duration::from_secs(retry_after.unwrap_or(1)),
        },
        400 => ApiError::BadRequest { description },
        401..=499 => ApiError::Refused {
            status,
            description,
        },
        500..=599 => ApiError::Server { status },
        _ => ApiError::Malformed { status },
    }
}

/// `text` with control and format characters dropped, cut to [`MAX_DESCRIPTION_CHARS`].
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !crate::html::is_invisible(*c))
        .take(MAX_DESCRIPTION_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: Value) -> HttpReply {
        HttpReply {
            status,
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn answers_map_to_results_and_errors() {
        assert_eq!(
            read(&reply(
                200,
                json!({"ok": true, "result": {"message_id": 5}})
            )),
            Ok(json!({"message_id": 5}))
        );
        assert_eq!(
            read(&reply(
                429,
                json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})
            )),
            Err(ApiError::RateLimited {
                retry_after: Duration::from_secs(7)
            })
        );
        assert!(matches!(
            read(&reply(400, json!({"ok": false, "error_code": 400, "description": "Bad Request: can't parse entities\u{202e}"}))),
            Err(ApiError::BadRequest { description }) if description == "Bad Request: can't parse entities"
        ));
        assert!(matches!(
            read(&reply(
                403,
                json!({"ok": false, "error_code": 403, "description": "Forbidden"})
            )),
            Err(ApiError::Refused { status: 403, .. })
        ));
        let html = HttpReply {
            status: 502,
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert_eq!(read(&html), Err(ApiError::Server { status: 502 }));
        let odd = HttpReply {
            status: 200,
            body: b"nope".to_vec(),
        };
        assert_eq!(read(&odd), Err(ApiError::Malformed { status: 200 }));
    }
}
