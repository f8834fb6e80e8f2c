//! OAuth 2.0 access tokens sent as `Authorization: Bearer` (RFC 6750): the SDK's
//! refresh logic (`carapace_plugin_sdk::oauth`: the request body, the reading of
//! the answer, the cache and the rotated refresh token in
//! `data/calendar/oauth2_refresh_token`) with this plugin's one HTTP POST (ureq, no
//! redirects) and its errors. The credential names and the config key
//! (`oauth2.token_url`) are the email plugin's.
//!
//! Must never: log or put in an error a token, the client secret or the endpoint's
//! answer body; follow a redirect.

use std::path::Path;
use std::time::Duration;

pub use carapace_plugin_sdk::oauth::Client;
use carapace_plugin_sdk::oauth::{read_answer, refresh_body, Fresh, RefreshError, Tokens};

use crate::error::CalError;

/// A refusal of the token endpoint, as this plugin's error: any refusal of the
/// refresh token or the client needs the person to sign in again.
pub fn refresh_error(error: RefreshError) -> CalError {
    match error {
        RefreshError::Revoked => CalError::Revoked("invalid_grant".into()),
        RefreshError::Refused { code, .. } => CalError::Revoked(code),
        RefreshError::Unavailable(status) => CalError::Status {
            status,
            step: "the OAuth2 token refresh",
        },
        RefreshError::Unreadable => {
            CalError::Malformed("the token endpoint gave no usable access token".into())
        }
    }
}

/// Hands out a valid access token, refreshing it when needed.
pub struct TokenSource {
    client: Client,
    tokens: Tokens,
    agent: ureq::Agent,
}

impl TokenSource {
    /// A source for `client` from the stored refresh token (or the newer rotated one
    /// kept in `data_dir` for it).
    pub fn new(client: Client, stored: String, data_dir: &Path, timeout: Duration) -> TokenSource {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(timeout))
            .user_agent("carapace-plugin-calendar")
            .build()
            .into();
        TokenSource {
            client,
            tokens: Tokens::new(stored, data_dir),
            agent,
        }
    }

    /// A valid access token: the cached one, or one refreshed now.
    pub fn access_token(&self) -> Result<String, CalError> {
        self.tokens.access_token(|current| self.refresh(current))
    }

    /// Forgets the cached access token (the server refused it).
    pub fn invalidate(&self) {
        self.tokens.invalidate();
    }

    fn refresh(&self, refresh_token: &str) -> Result<Fresh, CalError> {
        let body = refresh_body(&self.client, refresh_token);
        let sent = self
            .agent
            .post(&self.client.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .send(body.as_bytes());
        let unreachable = |_| CalError::Unreachable("the OAuth2 token endpoint".into());
        let mut response = sent.map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(unreachable)?;
        read_answer(status, &bytes).map_err(refresh_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_become_this_plugins_errors() {
        assert_eq!(
            refresh_error(RefreshError::Revoked),
            CalError::Revoked("invalid_grant".into())
        );
        assert_eq!(
            refresh_error(RefreshError::Refused {
                status: 401,
                code: "invalid_client".into()
            }),
            CalError::Revoked("invalid_client".into())
        );
        assert!(refresh_error(RefreshError::Unavailable(503)).retriable());
        assert!(matches!(
            refresh_error(RefreshError::Unreadable),
            CalError::Malformed(_)
        ));
    }
}
