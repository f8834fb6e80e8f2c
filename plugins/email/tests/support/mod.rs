//! What the email plugin's tests share: the real servers ([`servers`]), a hostile
//! IMAP stand-in ([`imap_standin`]), and the plugin run
//! in-process on the SDK's harness with a data dir and a credentials dir on disk.
#![allow(dead_code)]

pub mod imap_standin;
pub mod proxy;
pub mod servers;

pub use servers::*;

use std::time::Duration;

use carapace_plugin_email::EmailHandler;
use carapace_plugin_sdk::testing::Harness;
use serde_json::{json, Value};

/// Everything a test needs: certificates, dovecot, SMTP (STARTTLS), a temp dir.
pub struct World {
    /// The temp dir.
    pub dir: tempfile::TempDir,
    /// The certificates.
    pub certs: Certs,
    /// dovecot.
    pub dovecot: Dovecot,
    /// The submission server.
    pub smtp: Smtp,
}

impl World {
    /// Starts the servers, or `None` (skipped) when they are not installed.
    pub fn start() -> Option<World> {
        World::start_with(None)
    }

    /// As [`World::start`], with XOAUTH2 checked against `introspect`.
    pub fn start_with(introspect: Option<&str>) -> Option<World> {
        if !servers_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (certs, dovecot, smtp) = start_all(dir.path(), introspect);
        Some(World {
            dir,
            certs,
            dovecot,
            smtp,
        })
    }

    /// The plugin's config for [`USER`] over implicit TLS (IMAP) and STARTTLS (SMTP).
    pub fn config(&self) -> Value {
        json!({
            "address": USER,
            "display_name": "Alice",
            "imap": {"host": "localhost", "port": self.dovecot.imaps_port, "security": "tls", "ca_file": self.certs.ca},
            "smtp": {"host": "localhost", "port": self.smtp.port, "security": "starttls", "ca_file": self.certs.ca},
            "timeout_secs": 5,
        })
    }

    /// `initialize` params with `config` and credentials `files`.
    pub fn init_params(&self, name: &str, config: Value, files: &[(&str, &str)]) -> Value {
        let base = self.dir.path().join(name);
        let credentials = base.join("credentials");
        std::fs::create_dir_all(&credentials).expect("credentials dir");
        for (file, value) in files {
            std::fs::write(credentials.join(file), format!("{value}\n")).expect("credential");
        }
        json!({
            "plugin": "email",
            "version": "0.1.0",
            "config": config,
            "data_dir": base.join("data"),
            "credentials_dir": credentials,
        })
    }

    /// The plugin with `config`, initialized as [`USER`] with its password (data
    /// and credentials under `name`); panics if that fails.
    pub fn plugin_with(&self, name: &str, config: Value) -> Harness {
        let harness = Harness::start(EmailHandler::new());
        let password = self.dovecot.password(USER);
        harness
            .initialize_with(self.init_params(name, config, &[("password", &password)]))
            .expect("initialize");
        harness
    }

    /// The plugin, initialized as [`USER`] with its password; panics if that fails.
    pub fn plugin(&self) -> Harness {
        let harness = Harness::start(EmailHandler::new());
        let password = self.dovecot.password(USER);
        harness
            .initialize_with(self.init_params("plugin", self.config(), &[("password", &password)]))
            .expect("initialize");
        harness
    }

    /// Appends `raw` to `folder` of `user` over IMAP (the test's own session).
    pub fn append(&self, user: &str, folder: &str, raw: &[u8], seen: bool) {
        let mut session = self.session(user);
        let mut append = session.command().append(folder, raw);
        if seen {
            append.flag(imap::types::Flag::Seen);
        }
        append.finish().expect("APPEND");
        let _ = session.command().logout();
    }

    /// A session of `user`, the test's own (over TLS with the test CA): each
    /// command through `command()`.
    pub fn session(&self, user: &str) -> carapace_plugin_email::connection::Imap {
        let server: carapace_plugin_email::config::Server = serde_json::from_value(json!({
            "host": "localhost", "port": self.dovecot.imaps_port, "security": "tls", "ca_file": self.certs.ca,
        }))
        .expect("server");
        let secret =
            carapace_plugin_email::secret::LoginSecret::Password(self.dovecot.password(user));
        carapace_plugin_email::connection::open(&server, user, &secret, Duration::from_secs(5))
            .expect("test login")
    }

    /// Every message in `folder` of `user`, whole, with whether it is `\Seen`.
    pub fn messages(&self, user: &str, folder: &str) -> Vec<(Vec<u8>, bool)> {
        let mut session = self.session(user);
        session.command().examine(folder).expect("examine");
        let fetched = session
            .command()
            .uid_fetch("1:*", "(FLAGS BODY.PEEK[])")
            .expect("fetch");
        let found = fetched
            .iter()
            .map(|f| {
                let seen = f.flags().contains(&imap::types::Flag::Seen);
                (f.body().unwrap_or_default().to_vec(), seen)
            })
            .collect();
        let _ = session.command().logout();
        found
    }
}

/// The error `data.code` and message of a failed call.
pub fn error_of(
    answer: Result<Value, carapace_plugin_sdk::JsonRpcError>,
) -> (String, String, Option<String>) {
    let error = answer.expect_err("an error");
    let code = error.data_str("code").unwrap_or("").to_owned();
    let field = error.data_str("field").map(str::to_owned);
    (code, error.message, field)
}
