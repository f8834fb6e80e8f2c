//! What the plugin holds once initialized: its config, how it logs in, the kept
//! IMAP session, its data dir.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carapace_plugin_sdk::{Init, InitError};

use crate::config::{AuthMode, Config};
use crate::connection::live::Connection;
use crate::error::EmailError;
use crate::oauth::{Client, TokenSource};
use crate::secret::Credentials;
use crate::sent::SentFolder;

/// Credential names the plugin reads (see docs/email.md).
pub mod names {
    /// The password or app password (`auth = "password"`).
    pub const PASSWORD: &str = "password";
    /// The OAuth2 refresh token (`auth = "oauth2"`).
    pub const REFRESH_TOKEN: &str = "oauth2_refresh_token";
    /// The OAuth2 client id.
    pub const CLIENT_ID: &str = "oauth2_client_id";
    /// The OAuth2 client secret (optional).
    pub const CLIENT_SECRET: &str = "oauth2_client_secret";
}

/// The initialized plugin.
pub struct Shared {
    /// The config.
    pub config: Arc<Config>,
    /// How it logs in.
    pub credentials: Credentials,
    /// The IMAP session the tools share.
    pub imap: Connection,
    /// Its data dir.
    pub data_dir: PathBuf,
    /// Where a sent mail's copy goes.
    pub sent_folder: SentFolder,
    stopping: AtomicBool,
}

impl Shared {
    /// Reads config and credentials and logs in once (so wrong credentials fail
    /// `initialize` with `AUTH_ERROR`; an unreachable server only logs).
    pub fn initialize(init: &Init) -> Result<Shared, InitError> {
        let config: Config = init.config_as()?;
        config.check().map_err(InitError::config)?;
        for (name, server) in [("imap", &config.imap), ("smtp", &config.smtp)] {
            if server.insecure {
                eprintln!(
                    "email.insecure_tls server={name}: certificate checks are OFF (allowed for a loopback host only); use {name}.ca_file"
                );
            }
        }
        let config = Arc::new(config);
        let config_sent = config.sent_folder.clone();
        let credentials = read_credentials(init, &config)?;
        let shared = Shared {
            imap: Connection::new(Arc::clone(&config), credentials.clone()),
            config,
            credentials,
            data_dir: init.data_dir.clone(),
            sent_folder: SentFolder::from_config(config_sent.as_deref()),
            stopping: AtomicBool::new(false),
        };
        match shared.imap.with(|_| Ok(())) {
            Ok(()) => {}
            Err(EmailError::Network(kind)) => {
                eprintln!("email.imap_unreachable at start ({kind}); tools will retry");
            }
            Err(error) => return Err(init_error(&error)),
        }
        Ok(shared)
    }

    /// Whether `shutdown` has begun.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Marks `shutdown`, logs out.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.imap.close();
    }
}

fn read_credentials(init: &Init, config: &Config) -> Result<Credentials, InitError> {
    match config.auth {
        AuthMode::Password => {
            let password = init.credential(names::PASSWORD)?;
            Ok(Credentials::Password(Arc::new(
                password.expose().to_owned(),
            )))
        }
        AuthMode::Oauth2 => {
            let hint = " (carapace auth login --plugin email)";
            let refresh = init
                .credential(names::REFRESH_TOKEN)
                .map_err(|e| InitError::auth(format!("{e}{hint}")))?;
            let client_id = init
                .credential(names::CLIENT_ID)
                .map_err(|e| InitError::auth(format!("{e}{hint}")))?;
            let client_secret = init
                .credential(names::CLIENT_SECRET)
                .ok()
                .map(|s| s.expose().to_owned())
                .filter(|s| !s.is_empty());
            let token_url = config
                .oauth2
                .as_ref()
                .map(|o| o.token_url.clone())
                .ok_or_else(|| InitError::config("oauth2.token_url is missing"))?;
            let source = TokenSource::new(
                Client {
                    token_url,
                    client_id: client_id.expose().to_owned(),
                    client_secret,
                },
                refresh.expose().to_owned(),
                &init.data_dir,
                Duration::from_secs(config.timeout_secs),
            );
            Ok(Credentials::OAuth2(Arc::new(source)))
        }
    }
}

/// A login failure at start, as `initialize`'s error category.
pub fn init_error(error: &EmailError) -> InitError {
    match error {
        EmailError::Auth(_) => InitError::auth(
            "the mail server refused the login: check the credential (carapace auth set --plugin email password)",
        ),
        EmailError::Revoked => InitError::auth(
            "the OAuth2 refresh token was revoked or expired: run `carapace auth login --plugin email`",
        ),
        EmailError::Tls(why) => InitError::network(format!("TLS with the mail server failed: {why}")),
        EmailError::Setup(why) => InitError::config(why.clone()),
        other => InitError::network(format!("the mail server: {}", other.kind())),
    }
}
