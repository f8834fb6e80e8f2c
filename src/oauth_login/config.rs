//! `[auth.<plugin>]`: where a plugin's OAuth2 sign-in goes, as the person
//! configured it, with presets for the big providers.

use serde::{Deserialize, Serialize};

/// A provider whose endpoints and scopes Carapace knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Google (Gmail over IMAP and SMTP).
    Google,
    /// Microsoft (Outlook and Microsoft 365 over IMAP and SMTP).
    Microsoft,
}

/// One plugin's sign-in settings; what a preset sets may be overridden.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// `google` or `microsoft`: their endpoints and mail scopes.
    pub preset: Option<Preset>,
    /// The OAuth2 client id (not a secret; a client secret, if the provider
    /// needs one, is the credential `oauth2_client_secret`).
    pub client_id: Option<String>,
    /// The authorization endpoint (code flow).
    pub authorize_url: Option<String>,
    /// The token endpoint.
    pub token_url: Option<String>,
    /// The device authorization endpoint (device flow).
    pub device_url: Option<String>,
    /// The scopes asked for.
    pub scopes: Option<Vec<String>>,
}

/// Settings with every endpoint a flow needs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLogin {
    /// The client id.
    pub client_id: String,
    /// The authorization endpoint, if known.
    pub authorize_url: Option<String>,
    /// The token endpoint.
    pub token_url: String,
    /// The device endpoint, if known.
    pub device_url: Option<String>,
    /// The scopes.
    pub scopes: Vec<String>,
    /// Extra parameters of the authorization request (Google's offline access).
    pub authorize_extra: Vec<(String, String)>,
}

/// What a preset sets: (authorize, token, device, scopes, extra authorize parameters).
type PresetDefaults = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

impl Preset {
    /// The provider's endpoints, scopes and extra authorize parameters.
    fn defaults(self) -> PresetDefaults {
        match self {
            Preset::Google => (
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://oauth2.googleapis.com/device/code",
                &["https://mail.google.com/"],
                // Without these Google issues no refresh token on a second sign-in.
                &[("access_type", "offline"), ("prompt", "consent")],
            ),
            Preset::Microsoft => (
                "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
                &[
                    "https://outlook.office.com/IMAP.AccessAsUser.All",
                    "https://outlook.office.com/SMTP.Send",
                    "offline_access",
                ],
                &[],
            ),
        }
    }
}

/// An endpoint as `auth login` accepts it: https, or plain http to a loopback IP (tests).
pub fn check_endpoint(what: &str, value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|_| format!("{what} is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what} must not carry a user name or password"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err(format!(
                "{what} uses plain http to a host that is not a loopback address; use https"
            )),
        },
        _ => Err(format!("{what} must use https")),
    }
}

impl LoginConfig {
    /// Fills what the preset knows, and checks every endpoint; `plugin` names the table in errors.
    pub fn resolve(&self, plugin: &str) -> Result<ResolvedLogin, String> {
        let key = |k: &str| format!("auth.{plugin}.{k}");
        let defaults = self.preset.map(Preset::defaults);
        let pick = |own: &Option<String>, preset: Option<&'static str>| {
            own.clone().or_else(|| preset.map(str::to_owned))
        };
        let client_id = self
            .client_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                format!(
                    "{} is not set (the OAuth2 client id registered with the provider)",
                    key("client_id")
                )
            })?;
        let authorize_url = pick(&self.authorize_url, defaults.map(|d| d.0));
        let token_url = pick(&self.token_url, defaults.map(|d| d.1)).ok_or_else(|| {
            format!(
                "{} is not set (or set {} to google or microsoft)",
                key("token_url"),
                key("preset")
            )
        })?;
        let device_url = pick(&self.device_url, defaults.map(|d| d.2));
        check_endpoint(&key("token_url"), &token_url)?;
        if let Some(url) = &authorize_url {
            check_endpoint(&key("authorize_url"), url)?;
        }
        if let Some(url) = &device_url {
            check_endpoint(&key("device_url"), url)?;
        }
        let scopes = self.scopes.clone().unwrap_or_else(|| {
            defaults
                .map(|d| d.3.iter().map(|s| (*s).to_owned()).collect())
                .unwrap_or_default()
        });
        let authorize_extra = defaults
            .map(|d| {
                d.4.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ResolvedLogin {
            client_id,
            authorize_url,
            token_url,
            device_url,
            scopes,
            authorize_extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_fills_the_endpoints_and_own_values_win() {
        let config = LoginConfig {
            preset: Some(Preset::Google),
            client_id: Some("id.apps.googleusercontent.com".into()),
            scopes: Some(vec!["https://mail.google.com/".into(), "openid".into()]),
            ..LoginConfig::default()
        };
        let login = config.resolve("email").expect("resolves");
        assert_eq!(login.token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(login.scopes.len(), 2);
        assert!(login
            .authorize_extra
            .contains(&("access_type".into(), "offline".into())));
        let microsoft = LoginConfig {
            preset: Some(Preset::Microsoft),
            client_id: Some("x".into()),
            ..LoginConfig::default()
        };
        assert!(microsoft
            .resolve("email")
            .expect("resolves")
            .scopes
            .contains(&"offline_access".to_owned()));
    }

    #[test]
    fn missing_or_unsafe_settings_are_named() {
        let none = LoginConfig::default()
            .resolve("email")
            .expect_err("no client id");
        assert!(none.contains("auth.email.client_id"), "{none}");
        let no_token = LoginConfig {
            client_id: Some("x".into()),
            ..LoginConfig::default()
        };
        assert!(no_token
            .resolve("email")
            .expect_err("no token url")
            .contains("token_url"));
        for bad in [
            "http://idp.example/token",
            "http://localhost.evil.example/token",
            "ftp://127.0.0.1/token",
            "https://user:pw@idp.example/token",
            "not a url",
        ] {
            let config = LoginConfig {
                client_id: Some("x".into()),
                token_url: Some(bad.into()),
                ..LoginConfig::default()
            };
            assert!(config.resolve("email").is_err(), "{bad}");
        }
        let loopback = LoginConfig {
            client_id: Some("x".into()),
            token_url: Some("http://127.0.0.1:9/token".into()),
            ..LoginConfig::default()
        };
        assert!(loopback.resolve("email").is_ok());
    }
}
