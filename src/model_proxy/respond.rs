//! The proxy's own answers, in the provider's error shape so the agent shows
//! them: `{"type":"error","error":{"type":"...","message":"..."}}`.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The body type every proxy response has.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Tells the Anthropic SDKs not to retry a refusal that will not change.
pub const X_SHOULD_RETRY: &str = "x-should-retry";

/// Why the proxy answered itself instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not one of the provider's allowed endpoints (403).
    Forbidden,
    /// The request body is over the limit (413).
    TooLarge,
    /// The group's daily token budget is spent (429).
    BudgetSpent,
    /// The body could not be read from the client (400).
    BadRequest,
    /// No usable credential on the host (503).
    NoCredential,
    /// The provider could not be reached or answered garbage (502).
    Upstream,
    /// The provider took too long to answer (504).
    UpstreamTimeout,
}

impl Refusal {
    /// The status and the provider's error type.
    pub fn status_and_type(self) -> (StatusCode, &'static str) {
        match self {
            Refusal::Forbidden => (StatusCode::FORBIDDEN, "permission_error"),
            Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
            Refusal::BudgetSpent => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            Refusal::BadRequest => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            Refusal::NoCredential => (StatusCode::SERVICE_UNAVAILABLE, "authentication_error"),
            Refusal::Upstream => (StatusCode::BAD_GATEWAY, "api_error"),
            Refusal::UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "api_error"),
        }
    }

    /// Whether trying again can help.
    fn retriable(self) -> bool {
        matches!(self, Refusal::Upstream | Refusal::UpstreamTimeout)
    }
}

/// The proxy's own error response.
pub fn refuse(refusal: Refusal, message: &str) -> Response<ProxyBody> {
    let (status, kind) = refusal.status_and_type();
    let body = serde_json::json!({
        "type": "error",
        "error": { "type": kind, "message": format!("Carapace model proxy: {message}") },
    });
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        X_SHOULD_RETRY,
        HeaderValue::from_static(if refusal.retriable() { "true" } else { "false" }),
    );
    response
}

/// A complete body as a [`ProxyBody`].
pub fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refusals_have_the_provider_error_shape() {
        let response = refuse(Refusal::BudgetSpent, "the daily token budget is spent");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[X_SHOULD_RETRY], "false");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(value["type"], "error");
        assert_eq!(value["error"]["type"], "rate_limit_error");
        assert!(value["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("daily token budget")));
    }
}
