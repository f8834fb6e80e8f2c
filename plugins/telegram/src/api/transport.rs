//! One HTTP POST to one Bot API method: the [`Transport`] trait, and [`UreqTransport`],
//! the real one (blocking HTTPS with rustls).
//!
//! The request URL (`<base>/bot<token>/<method>`) exists only inside
//! [`UreqTransport::post`]. Must never let it out: ureq's errors can carry the URL,
//! so they are mapped to a [`TransportError`] by kind and never displayed.

use std::time::Duration;

use crate::base_url::BaseUrl;
use crate::token::BotToken;

/// Largest answer read from the Bot API (a full `getUpdates` is far smaller).
pub const MAX_ANSWER_BYTES: u64 = 8 << 20;

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `application/json`.
    Json(Vec<u8>),
    /// `multipart/form-data` with this boundary.
    Multipart {
        /// The boundary, not found in any part.
        boundary: String,
        /// The encoded parts.
        bytes: Vec<u8>,
    },
}

/// What came back: the status and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The HTTP status.
    pub status: u16,
    /// The body (at most [`MAX_ANSWER_BYTES`]).
    pub body: Vec<u8>,
}

/// Why no answer came; by kind only, never with a URL or a peer's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the request's deadline.
    #[error("the Bot API did not answer in time")]
    Timeout,
    /// The host could not be resolved or reached.
    #[error("the Bot API could not be reached")]
    Connect,
    /// The connection failed while talking.
    #[error("the connection to the Bot API failed")]
    Io,
    /// TLS failed (certificate, handshake).
    #[error("TLS with the Bot API failed")]
    Tls,
    /// The answer was over [`MAX_ANSWER_BYTES`] or not HTTP.
    #[error("the Bot API's answer was unreadable")]
    Unreadable,
}

/// Posts one method's body; a test stands in for the network here.
pub trait Transport: Send + Sync {
    /// Posts `body` to `method` and waits at most `timeout` for the whole answer.
    fn post(
        &self,
        method: &str,
        body: &Body,
        timeout: Duration,
    ) -> Result<HttpReply, TransportError>;
}

/// The real transport: one pooled ureq agent for every method.
pub struct UreqTransport {
    agent: ureq::Agent,
    base: BaseUrl,
    token: BotToken,
}

impl UreqTransport {
    /// A transport for the bot `token` at `base`.
    pub fn new(base: BaseUrl, token: BotToken) -> UreqTransport {
        let config = ureq::Agent::config_builder()
            // 4xx and 5xx are the Bot API's own answers, read like any other.
            .http_status_as_error(false)
            // A redirect is not the Bot API's: never follow it.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent("carapace-plugin-telegram")
            .build();
        UreqTransport {
            agent: config.into(),
            base,
            token,
        }
    }
}

impl Transport for UreqTransport {
    fn post(
        &self,
        method: &str,
        body: &Body,
        timeout: Duration,
    ) -> Result<HttpReply, TransportError> {
        let url = format!("{}/bot{}/{method}", self.base.as_str(), self.token.expose());
        let (content_type, bytes) = match body {
            Body::Json(bytes) => ("application/json".to_owned(), bytes.as_slice()),
            Body::Multipart { boundary, bytes } => (
                format!("multipart/form-data; boundary={boundary}"),
                bytes.as_slice(),
            ),
        };
        let sent = self
            .agent
            .post(&url)
            .header("content-type", &content_type)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(bytes);
        drop(url);
        let mut response = sent.map_err(kind)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(kind)?;
        Ok(HttpReply { status, body })
    }
}

/// The kind of a ureq error, dropping everything it carries.
fn kind(error: ureq::Error) -> TransportError {
    match error {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportError::Connect,
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => TransportError::Timeout,
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            TransportError::Connect
        }
        ureq::Error::Io(_) | ureq::Error::Protocol(_) => TransportError::Io,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => TransportError::Tls,
        _ => TransportError::Unreadable,
    }
}
