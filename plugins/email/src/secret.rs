//! How the plugin proves who it is: a password, or an OAuth2 access token it
//! refreshes. Read once at `initialize`; never shown (`Debug` hides it).

use std::sync::Arc;
use std::time::Instant;

use crate::error::EmailError;
use crate::oauth::TokenSource;

/// What a login presents.
pub enum LoginSecret {
    /// LOGIN / AUTH PLAIN.
    Password(String),
    /// XOAUTH2 with this access token.
    Bearer(String),
}

/// Where login secrets come from.
#[derive(Clone)]
pub enum Credentials {
    /// The stored password.
    Password(Arc<String>),
    /// Access tokens from the refresh token.
    OAuth2(Arc<TokenSource>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Password(_) => "Credentials::Password(..)",
            Credentials::OAuth2(_) => "Credentials::OAuth2(..)",
        })
    }
}

impl Credentials {
    /// The secret for the next login (an access token refreshed by `until`, if given).
    pub fn login_secret(&self, until: Option<Instant>) -> Result<LoginSecret, EmailError> {
        match self {
            Credentials::Password(password) => Ok(LoginSecret::Password(password.to_string())),
            Credentials::OAuth2(source) => source.access_token(until).map(LoginSecret::Bearer),
        }
    }

    /// The server refused a login: a cached access token is dropped, so the next
    /// login refreshes it.
    pub fn refused(&self) {
        if let Credentials::OAuth2(source) = self {
            source.invalidate();
        }
    }
}
