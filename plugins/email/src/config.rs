//! The plugin's config (`[plugins.email.config]`), read at `initialize` and checked
//! beyond the manifest's schema: a server without TLS cannot be configured, and
//! `insecure` (no certificate check) is refused unless the host is loopback.

use std::path::PathBuf;

use serde::Deserialize;

/// How the connection to a server is secured; there is no plaintext mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Tls,
    /// Plain connect, then STARTTLS before anything else is said (IMAP 143, SMTP 587).
    Starttls,
}

/// One server (IMAP or SMTP).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Host name (also the name the certificate must carry).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `tls` or `starttls`.
    pub security: Security,
    /// A PEM file of CA certificates to trust instead of the built-in web roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Skip certificate checks: refused unless `host` is loopback.
    #[serde(default)]
    pub insecure: bool,
}

/// How the plugin logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The credential `password` (or an app password), with LOGIN / AUTH PLAIN.
    #[default]
    Password,
    /// XOAUTH2 with an access token the plugin refreshes itself.
    Oauth2,
}

/// OAuth2 settings that are not secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// The token endpoint (https, or http to loopback only).
    pub token_url: String,
}

/// Polling of INBOX for `message.inbound`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// The group whose sessions an allowed mail starts.
    pub group: String,
    /// Senders (addresses) whose mail starts a session, trust `contact`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Senders whose mail starts a session with trust `owner` (implicitly allowed).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Seconds between two looks at INBOX.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// When set, a mail counts only if an `Authentication-Results` header of this
    /// authserv-id says `dkim=pass` or `spf=pass`.
    #[serde(default)]
    pub authserv_id: Option<String>,
}

fn default_interval() -> u64 {
    60
}

fn default_max_body() -> usize {
    20_000
}

fn default_timeout() -> u64 {
    20
}

/// The whole config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The mailbox's address: the From of sent mail, and the login name unless `username`.
    pub address: String,
    /// The name shown with `address` on sent mail.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The login name, when it is not `address`.
    #[serde(default)]
    pub username: Option<String>,
    /// `password` or `oauth2`.
    #[serde(default)]
    pub auth: AuthMode,
    /// The IMAP server.
    pub imap: Server,
    /// The SMTP submission server.
    pub smtp: Server,
    /// OAuth2 settings (with `auth = "oauth2"`).
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// INBOX polling; absent: no polling.
    #[serde(default)]
    pub poll: Option<Poll>,
    /// Most characters of a body `email_read` answers.
    #[serde(default = "default_max_body")]
    pub max_body_chars: usize,
    /// Where a copy of each sent mail goes: absent, the folder marked `\Sent`, else
    /// `Sent`; `""`, nowhere.
    #[serde(default)]
    pub sent_folder: Option<String>,
    /// Seconds one IMAP command may take in all (connecting and logging in count as
    /// one), and one SMTP network step.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl Config {
    /// The login name.
    pub fn login(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.address)
    }

    /// Checks what the schema cannot; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        for (name, server) in [("imap", &self.imap), ("smtp", &self.smtp)] {
            if server.host.is_empty() || server.host.len() > 253 {
                return Err(format!("{name}.host is empty or too long"));
            }
            if server.insecure && !is_loopback(&server.host) {
                return Err(format!(
                    "{name}.insecure is refused for {}: certificate checks may be skipped only for a loopback host (use {name}.ca_file for a private CA)",
                    server.host
                ));
            }
        }
        if crate::address::Address::parse(&self.address).is_none() {
            return Err("address is not an email address".into());
        }
        if let Some(folder) = self.sent_folder.as_deref().filter(|f| !f.is_empty()) {
            crate::id::check_folder(folder).map_err(|why| format!("sent_folder: {why}"))?;
        }
        if self.auth == AuthMode::Oauth2 {
            let Some(oauth) = &self.oauth2 else {
                return Err("auth = \"oauth2\" needs oauth2.token_url".into());
            };
            crate::oauth::check_token_url(&oauth.token_url)?;
        }
        if let Some(poll) = &self.poll {
            if poll.interval_secs == 0 {
                return Err("poll.interval_secs must be at least 1".into());
            }
            // A From header alone is anyone's to write: the owner's trust only
            // on the receiving server's word that it was authenticated.
            if !poll.owners.is_empty() && poll.authserv_id.is_none() {
                return Err(
                    "poll.owners needs poll.authserv_id (a From header alone is forgeable)".into(),
                );
            }
            for sender in poll.allow.iter().chain(&poll.owners) {
                if crate::address::Address::parse(sender).is_none() {
                    return Err(format!("poll.allow/owners: `{sender}` is not an address"));
                }
            }
        }
        Ok(())
    }
}

/// Whether `host` names this machine (127.0.0.0/8, ::1, localhost).
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(imap_host: &str, insecure: bool) -> Config {
        serde_json::from_value(json!({
            "address": "me@example.com",
            "imap": {"host": imap_host, "port": 993, "security": "tls", "insecure": insecure},
            "smtp": {"host": "smtp.example.com", "port": 465, "security": "tls"},
        }))
        .expect("config")
    }

    #[test]
    fn insecure_only_for_loopback() {
        assert!(config("127.0.0.1", true).check().is_ok());
        assert!(config("localhost", true).check().is_ok());
        assert!(config("[::1]", true).check().is_ok());
        let refused = config("imap.example.com", true)
            .check()
            .expect_err("refused");
        assert!(refused.contains("imap.insecure"), "{refused}");
        assert!(config("imap.example.com", false).check().is_ok());
    }

    #[test]
    fn owners_need_the_receiving_servers_word() {
        let mut config = config("imap.example.com", false);
        config.poll = Some(
            serde_json::from_value(
                serde_json::json!({"group": "main", "owners": ["me@example.com"]}),
            )
            .expect("poll"),
        );
        let error = config.check().expect_err("owners without authserv_id");
        assert!(error.contains("poll.authserv_id"), "{error}");
        if let Some(poll) = config.poll.as_mut() {
            poll.authserv_id = Some("mx.example.com".into());
        }
        assert!(config.check().is_ok());
    }

    #[test]
    fn there_is_no_plaintext_mode() {
        let plain = serde_json::from_value::<Config>(json!({
            "address": "me@example.com",
            "imap": {"host": "h", "port": 143, "security": "none"},
            "smtp": {"host": "h", "port": 25, "security": "tls"},
        }));
        assert!(plain.is_err());
    }
}
