//! `[plugins.calendar.config]`: where the server is, who we are, and the plugin's bounds.

use std::time::Duration;

use serde::Deserialize;

use crate::error::CalError;
use crate::zone;

/// How the plugin authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// HTTP Basic with `username` and the credential `password` (an app password).
    #[default]
    #[serde(alias = "password")]
    Basic,
    /// `Authorization: Bearer` with the credential `oauth2_access_token` as stored.
    Bearer,
    /// `Authorization: Bearer` with an access token the plugin refreshes from the
    /// credentials `oauth2_refresh_token`, `oauth2_client_id` (and
    /// `oauth2_client_secret`) at `oauth2.token_url`: the email plugin's keys.
    #[serde(rename = "oauth2")]
    OAuth2,
}

/// `oauth2 = { token_url = "..." }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    /// The token endpoint (https, or http to loopback).
    pub token_url: String,
}

/// The plugin's config, as the manifest's `config_schema` allows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server's base URL (discovery starts here).
    pub url: String,
    /// The account name for Basic authentication.
    #[serde(default)]
    pub username: String,
    /// Basic or bearer.
    #[serde(default)]
    pub auth: AuthMode,
    /// The OAuth2 token endpoint, for `auth = "oauth2"`.
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
    /// The account's own address: ORGANIZER of events with attendees (else `username`).
    #[serde(default)]
    pub email: Option<String>,
    /// The calendar used when a call names none (display name or href).
    #[serde(default)]
    pub calendar: Option<String>,
    /// The zone of floating times and of answers to calls that name none.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// PEM file of extra CA certificates to trust (a private CA).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Longest one HTTP exchange may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Longest window `calendar_list_events` and `calendar_free_busy` accept.
    #[serde(default = "default_window")]
    pub max_window_days: u32,
    /// How many windows of events to keep between calls, reused only while the
    /// calendar's ctag is unchanged (0: ask the server every time).
    #[serde(default = "default_kept_windows")]
    pub kept_windows: u8,
}

fn utc() -> String {
    "UTC".into()
}

fn default_timeout() -> u64 {
    20
}

fn default_kept_windows() -> u8 {
    8
}

fn default_window() -> u32 {
    366
}

impl Config {
    /// Checks what the schema cannot: the URL's scheme, the zone.
    pub fn check(&self) -> Result<(), CalError> {
        crate::href::check_base_url(&self.url)?;
        zone::iana(&self.time_zone).ok_or_else(|| {
            CalError::Config(format!(
                "time_zone `{}` is not an IANA zone",
                self.time_zone
            ))
        })?;
        if self.auth == AuthMode::Basic && self.username.is_empty() {
            return Err(CalError::Config(
                "username is required for auth = \"basic\"".into(),
            ));
        }
        if self.auth == AuthMode::OAuth2 {
            let token_url = self
                .oauth2
                .as_ref()
                .map(|o| o.token_url.as_str())
                .ok_or_else(|| {
                    CalError::Config(
                        "auth = \"oauth2\" needs oauth2 = { token_url = \"...\" }".into(),
                    )
                })?;
            crate::href::check_base_url(token_url).map_err(|_| {
                CalError::Config("oauth2.token_url must be https (or http to loopback)".into())
            })?;
        }
        if !(1..=3660).contains(&self.max_window_days) {
            return Err(CalError::Config("max_window_days must be 1..=3660".into()));
        }
        if self.kept_windows > 64 {
            return Err(CalError::Config("kept_windows must be 0..=64".into()));
        }
        Ok(())
    }

    /// The HTTP timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.clamp(1, 300))
    }
}
