//! The two sign-in flows, on the `oauth2` crate: the authorization code with
//! PKCE on the loopback redirect, and the device flow. Each ends with the
//! provider's refresh token, or an error that never holds a token.

use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, DeviceAuthorizationUrl,
    PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope, StandardDeviceAuthorizationResponse,
    TokenResponse, TokenUrl,
};

use super::config::ResolvedLogin;
use super::http;
use super::loopback::Redirect;

/// What a sign-in gives: the refresh token (kept only to be stored).
pub struct Tokens {
    /// The refresh token.
    pub refresh_token: String,
}

impl Drop for Tokens {
    fn drop(&mut self) {
        // Best effort: the bytes are overwritten before the memory is freed.
        let mut bytes = std::mem::take(&mut self.refresh_token).into_bytes();
        bytes.fill(0);
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

/// Why a sign-in did not end with a refresh token.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// A setting is missing or unusable.
    #[error("{0}")]
    Config(String),
    /// The loopback listener failed.
    #[error("the local redirect listener failed: {0}")]
    Listener(std::io::Error),
    /// Nobody finished the sign-in in time.
    #[error("no answer from the browser or the provider within {0} s")]
    TimedOut(u64),
    /// The callback's `state` is not the one sent: another page answered.
    #[error("the answer's state does not match the request's (refused: it did not come from this sign-in)")]
    StateMismatch,
    /// The provider (or the person) refused.
    #[error("the provider refused: {0}")]
    Refused(String),
    /// The provider could not be reached or answered nonsense.
    #[error("{0}")]
    Provider(String),
    /// Signed in, but without a refresh token.
    #[error("the provider gave no refresh token; the plugin could not sign in again by itself (check the scopes: e.g. offline_access)")]
    NoRefreshToken,
}

/// The provider's words in an error: plain, at most 200 characters.
fn plain(text: &str) -> String {
    crate::display::strip(text, 200)
}

/// A token request's failure, as the person is told it.
fn token_error<RE, T>(error: RequestTokenError<RE, T>) -> LoginError
where
    RE: std::error::Error + 'static,
    T: oauth2::ErrorResponse + 'static,
{
    match error {
        RequestTokenError::ServerResponse(response) => {
            // `Display` of a standard error response is its code and description.
            LoginError::Refused(plain(&response.to_string()))
        }
        RequestTokenError::Request(e) => LoginError::Provider(plain(&e.to_string())),
        RequestTokenError::Parse(_, _) => {
            LoginError::Provider("the provider's answer is not an OAuth2 token answer".into())
        }
        RequestTokenError::Other(e) => LoginError::Provider(plain(&e)),
    }
}

fn config_error(what: &str) -> impl Fn(url::ParseError) -> LoginError + '_ {
    move |e| LoginError::Config(format!("{what}: {e}"))
}

fn scopes(login: &ResolvedLogin) -> Vec<Scope> {
    login.scopes.iter().cloned().map(Scope::new).collect()
}

fn refresh_token_of(token: &impl TokenResponse) -> Result<Tokens, LoginError> {
    token
        .refresh_token()
        .map(|t| Tokens {
            refresh_token: t.secret().clone(),
        })
        .filter(|t| !t.refresh_token.is_empty())
        .ok_or(LoginError::NoRefreshToken)
}

/// The code flow: `announce` is given the URL to open; waits up to `timeout`.
pub fn code_flow(
    login: &ResolvedLogin,
    client_secret: Option<String>,
    timeout: Duration,
    announce: impl FnOnce(&str),
) -> Result<Tokens, LoginError> {
    let authorize = login.authorize_url.clone().ok_or_else(|| {
        LoginError::Config("no authorize_url: set it, or use --device with a device_url".into())
    })?;
    let redirect = Redirect::bind().map_err(LoginError::Listener)?;
    let redirect_uri = redirect.uri().map_err(LoginError::Listener)?;
    let mut client = BasicClient::new(ClientId::new(login.client_id.clone()))
        .set_auth_uri(AuthUrl::new(authorize).map_err(config_error("authorize_url"))?)
        .set_token_uri(TokenUrl::new(login.token_url.clone()).map_err(config_error("token_url"))?)
        .set_redirect_uri(RedirectUrl::new(redirect_uri).map_err(config_error("redirect"))?);
    if let Some(secret) = client_secret {
        client = client.set_client_secret(ClientSecret::new(secret));
    }
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes(login))
        .set_pkce_challenge(challenge);
    for (key, value) in &login.authorize_extra {
        request = request.add_extra_param(key.clone(), value.clone());
    }
    let (url, state) = request.url();
    announce(url.as_str());
    let callback = redirect
        .wait(Instant::now() + timeout)
        .map_err(LoginError::Listener)?
        .ok_or(LoginError::TimedOut(timeout.as_secs()))?;
    if callback.state.as_deref() != Some(state.secret().as_str()) {
        return Err(LoginError::StateMismatch);
    }
    if let Some(error) = callback.error {
        return Err(LoginError::Refused(plain(&error)));
    }
    let code = callback
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| LoginError::Refused("the answer holds no authorization code".into()))?;
    let http = http::client();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request(&http)
        .map_err(token_error)?;
    refresh_token_of(&token)
}

/// The device flow: `announce` is given the page to open and the code to type;
/// polls the provider up to `timeout`.
pub fn device_flow(
    login: &ResolvedLogin,
    client_secret: Option<String>,
    timeout: Duration,
    announce: impl FnOnce(&str, &str),
) -> Result<Tokens, LoginError> {
    let device = login.device_url.clone().ok_or_else(|| {
        LoginError::Config("no device_url: set it, or sign in without --device".into())
    })?;
    let mut client = BasicClient::new(ClientId::new(login.client_id.clone()))
        .set_token_uri(TokenUrl::new(login.token_url.clone()).map_err(config_error("token_url"))?)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(device).map_err(config_error("device_url"))?,
        );
    if let Some(secret) = client_secret {
        client = client.set_client_secret(ClientSecret::new(secret));
    }
    let http = http::client();
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scopes(scopes(login))
        .request(&http)
        .map_err(token_error)?;
    announce(
        details.verification_uri().as_str(),
        details.user_code().secret(),
    );
    let token = client
        .exchange_device_access_token(&details)
        .request(&http, std::thread::sleep, Some(timeout))
        .map_err(token_error)?;
    refresh_token_of(&token)
}
