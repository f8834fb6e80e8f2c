//! OAuth 2.0 access tokens for XOAUTH2: the SDK's refresh logic
//! (`carapace_plugin_sdk::oauth`: the request body, the reading of the answer, the
//! cache and the rotated refresh token in `data/email/oauth2_refresh_token`) with
//! this plugin's one HTTP POST (ureq, no redirects) and its errors.
//!
//! Must never: log or put in an error a token, the client secret or the endpoint's
//! answer body; follow a redirect.

use std::time::{Duration, Instant};

pub use carapace_plugin_sdk::oauth::Client;
use carapace_plugin_sdk::oauth::{read_answer, refresh_body, Fresh, RefreshError, Tokens};

use crate::error::EmailError;

/// Checks a token endpoint: https, or http to a loopback host only.
pub fn check_token_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("https://") {
        if !rest.is_empty() {
            return Ok(());
        }
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or("");
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        };
        if crate::config::is_loopback(host) {
            return Ok(());
        }
    }
    Err("oauth2.token_url must be https (or http to a loopback host)".into())
}

/// A refusal of the token endpoint, as this plugin's error.
pub fn refresh_error(error: RefreshError) -> EmailError {
    match error {
        RefreshError::Revoked => EmailError::Revoked,
        RefreshError::Refused { status, code } => {
            EmailError::Auth(format!("token endpoint refused ({status} {code})"))
        }
        RefreshError::Unavailable(status) => {
            EmailError::Network(format!("token endpoint answered {status}"))
        }
        RefreshError::Unreadable => EmailError::Server("token endpoint answer unreadable".into()),
    }
}

/// Hands out a valid access token, refreshing it when needed.
pub struct TokenSource {
    client: Client,
    tokens: Tokens,
    agent: ureq::Agent,
    timeout: Duration,
}

/// Least time a refresh is started with: cut in flight, a refresh whose answer
/// rotated the refresh token would lose the new one.
pub const LEAST_REFRESH_TIME: Duration = Duration::from_secs(5);

impl TokenSource {
    /// A source for `client`, starting from the stored refresh token (or the newer
    /// rotated one kept in `data_dir`).
    pub fn new(
        client: Client,
        stored: String,
        data_dir: &std::path::Path,
        timeout: Duration,
    ) -> TokenSource {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(timeout))
            .user_agent("carapace-plugin-email")
            .build()
            .into();
        TokenSource {
            client,
            tokens: Tokens::new(stored, data_dir),
            agent,
            timeout,
        }
    }

    /// A valid access token (cached, or refreshed now, by `until` if given).
    pub fn access_token(&self, until: Option<Instant>) -> Result<String, EmailError> {
        self.tokens.access_token(|current| {
            let left = until.map_or(self.timeout, |until| {
                until.saturating_duration_since(Instant::now())
            });
            if left < LEAST_REFRESH_TIME.min(self.timeout) {
                return Err(EmailError::Network(
                    "no time was left to refresh the OAuth2 access token".into(),
                ));
            }
            self.refresh(current, left.min(self.timeout))
        })
    }

    /// Forgets the cached access token (the server refused it).
    pub fn invalidate(&self) {
        self.tokens.invalidate();
    }

    fn refresh(&self, refresh_token: &str, timeout: Duration) -> Result<Fresh, EmailError> {
        let body = refresh_body(&self.client, refresh_token);
        let sent = self
            .agent
            .post(&self.client.token_url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .send(body.as_bytes());
        let mut response = sent.map_err(|e| EmailError::Network(ureq_kind(&e).into()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| EmailError::Network(ureq_kind(&e).into()))?;
        read_answer(status, &bytes).map_err(refresh_error)
    }
}

/// A ureq error by kind only (its text may carry the URL).
fn ureq_kind(error: &ureq::Error) -> &'static str {
    match error {
        ureq::Error::Timeout(_) => "token endpoint timed out",
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => "token endpoint unreachable",
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "TLS with the token endpoint failed",
        _ => "token endpoint exchange failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_become_this_plugins_errors() {
        assert!(matches!(
            refresh_error(RefreshError::Revoked),
            EmailError::Revoked
        ));
        assert!(matches!(
            refresh_error(RefreshError::Refused {
                status: 401,
                code: "invalid_client".into()
            }),
            EmailError::Auth(_)
        ));
        assert!(matches!(
            refresh_error(RefreshError::Unavailable(503)),
            EmailError::Network(_)
        ));
        assert!(matches!(
            refresh_error(RefreshError::Unreadable),
            EmailError::Server(_)
        ));
    }

    #[test]
    fn token_url_must_be_https_or_loopback() {
        assert!(check_token_url("https://oauth2.googleapis.com/token").is_ok());
        assert!(check_token_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_token_url("http://localhost/token").is_ok());
        assert!(check_token_url("http://evil.example/token").is_err());
        assert!(check_token_url("http://127.0.0.1.evil.example/x").is_err());
        assert!(check_token_url("ftp://x").is_err());
    }
}
