//! `CalendarHandler`, the SDK plugin: at `initialize` reads the config and the
//! credential, and finds the calendars once (a refused password is `AUTH_ERROR`; a
//! server that cannot be reached is tried again at the first call); then answers the
//! tools.
//!
//! Must never: log or answer a credential, or an event's text in a log line.

use std::sync::Arc;

use carapace_plugin_sdk::{CallContext, Init, InitError, Plugin, ToolError};
use serde_json::Value;

use crate::config::{AuthMode, Config};
use crate::error::CalError;
use crate::http::Credentials;
use crate::oauth;
use crate::service::Account;
use crate::tools;

/// The credential holding the password (an app password).
pub const PASSWORD: &str = "password";
/// The credential holding an OAuth2 access token as is (`auth = "bearer"`).
pub const ACCESS_TOKEN: &str = "oauth2_access_token";
/// The credential holding the OAuth2 refresh token (`auth = "oauth2"`).
pub const REFRESH_TOKEN: &str = "oauth2_refresh_token";
/// The credential holding the OAuth2 client id (`auth = "oauth2"`).
pub const CLIENT_ID: &str = "oauth2_client_id";
/// The credential holding the OAuth2 client secret, if the client has one.
pub const CLIENT_SECRET: &str = "oauth2_client_secret";

/// The calendar plugin's handler.
#[derive(Default)]
pub struct CalendarHandler {
    account: Option<Arc<Account>>,
}

impl CalendarHandler {
    /// A handler waiting for `initialize`.
    pub fn new() -> CalendarHandler {
        CalendarHandler::default()
    }

    /// The account, once initialized (tests reach the client through it).
    pub fn account(&self) -> Option<Arc<Account>> {
        self.account.clone()
    }
}

/// Builds the account `init` describes, without touching the network.
pub fn account_for(init: &Init) -> Result<Account, InitError> {
    let config: Config = init.config_as()?;
    let credentials = match config.auth {
        AuthMode::Basic => {
            let password = init.credential(PASSWORD)?;
            Credentials::basic(&config.username, password.expose())
        }
        AuthMode::Bearer => Credentials::bearer(init.credential(ACCESS_TOKEN)?.expose()),
        AuthMode::OAuth2 => {
            let token_url = config
                .oauth2
                .as_ref()
                .map(|o| o.token_url.clone())
                .ok_or_else(|| InitError::config("auth = \"oauth2\" needs oauth2.token_url"))?;
            let client = oauth::Client {
                token_url,
                client_id: init.credential(CLIENT_ID)?.expose().to_owned(),
                client_secret: init
                    .credential(CLIENT_SECRET)
                    .ok()
                    .map(|s| s.expose().to_owned()),
            };
            let refresh = init.credential(REFRESH_TOKEN)?.expose().to_owned();
            Credentials::OAuth(Arc::new(oauth::TokenSource::new(
                client,
                refresh,
                &init.data_dir,
                config.timeout(),
            )))
        }
    };
    let ca_pem = match config.ca_file.as_deref() {
        Some(path) => Some(std::fs::read(path).map_err(|_| {
            InitError::config("ca_file cannot be read (is it inside a path the plugin may read?)")
        })?),
        None => None,
    };
    Account::new(config, credentials, ca_pem.as_deref()).map_err(CalError::into_init)
}

impl Plugin for CalendarHandler {
    fn initialize(&mut self, init: &Init) -> Result<(), InitError> {
        let account = account_for(init)?;
        match account.refresh() {
            Ok(_) => {}
            Err(
                e @ (CalError::Auth(_)
                | CalError::Revoked(_)
                | CalError::Config(_)
                | CalError::Tls(_)),
            ) => return Err(e.into_init()),
            // Down or odd now: the first call tries again and says what is wrong.
            Err(_) => {}
        }
        self.account = Some(Arc::new(account));
        Ok(())
    }

    fn call(&self, _ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        let account = self
            .account
            .as_ref()
            .ok_or_else(|| ToolError::new("the calendar plugin is not initialized"))?;
        tools::call(account, tool, arguments).map_err(CalError::into_tool)
    }
}
