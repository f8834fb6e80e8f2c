//! OAuth 2.0 access tokens from a refresh token (RFC 6749 §6), for XOAUTH2.
//!
//! The request and the answer are pure functions ([`refresh_request`],
//! [`read_answer`]); [`TokenSource`] does the one HTTP POST and caches the access
//! token until a minute before it expires. A refresh token the endpoint rotates is
//! kept in the data dir (`oauth2_refresh_token`, 0600) beside a fingerprint of the
//! stored credential it replaced, so a restart uses the newest, and a credential the
//! person stores anew (`carapace auth login --plugin email`) wins over it.
//!
//! Must never: log or put in an error a token, the client secret or the endpoint's
//! answer body; follow a redirect.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::EmailError;

/// Renew this long before the access token expires.
const EARLY: Duration = Duration::from_secs(60);
/// Lifetime assumed when the endpoint gives none.
const DEFAULT_LIFETIME: u64 = 3600;
/// Longest an access token is trusted, whatever the endpoint says (a huge
/// `expires_in` would overflow the clock and stop every call).
const MAX_LIFETIME_SECS: u64 = 86_400;

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

/// What the endpoint needs to refresh.
#[derive(Clone)]
pub struct Client {
    /// The token endpoint.
    pub token_url: String,
    /// The OAuth2 client id.
    pub client_id: String,
    /// The client secret, for confidential clients.
    pub client_secret: Option<String>,
}

/// `application/x-www-form-urlencoded` body of a refresh request.
pub fn refresh_request(client: &Client, refresh_token: &str) -> String {
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client.client_id.as_str()),
    ];
    if let Some(secret) = &client.client_secret {
        pairs.push(("client_secret", secret.as_str()));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes all but unreserved characters.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A successful refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// The access token.
    pub access_token: String,
    /// Seconds it lives.
    pub expires_in: u64,
    /// A new refresh token, when the endpoint rotates them.
    pub refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    error: Option<String>,
}

/// Reads the endpoint's answer: `invalid_grant` is [`EmailError::Revoked`], other
/// 4xx an auth failure, 5xx or garbage a server error.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Fresh, EmailError> {
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let Some(Answer {
            access_token: Some(access_token),
            expires_in,
            refresh_token,
            ..
        }) = answer
        else {
            return Err(EmailError::Server(
                "token endpoint answer unreadable".into(),
            ));
        };
        if access_token.is_empty() || access_token.contains(['\x01', '\r', '\n']) {
            return Err(EmailError::Server(
                "token endpoint gave an unusable token".into(),
            ));
        }
        return Ok(Fresh {
            access_token,
            expires_in: expires_in.unwrap_or(DEFAULT_LIFETIME),
            refresh_token: refresh_token.filter(|t| !t.is_empty()),
        });
    }
    let code = answer.and_then(|a| a.error).unwrap_or_default();
    match (status, code.as_str()) {
        (_, "invalid_grant") => Err(EmailError::Revoked),
        (400..=499, _) => Err(EmailError::Auth(format!(
            "token endpoint refused ({status} {})",
            code.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(40)
                .collect::<String>()
        ))),
        _ => Err(EmailError::Network(format!(
            "token endpoint answered {status}"
        ))),
    }
}

struct Cached {
    token: String,
    until: Instant,
}

/// Hands out a valid access token, refreshing it when needed.
pub struct TokenSource {
    client: Client,
    /// The refresh token as stored in the credentials.
    stored: String,
    rotated_file: PathBuf,
    state: Mutex<(Option<Cached>, String)>,
    agent: ureq::Agent,
}

impl TokenSource {
    /// A source for `client`, starting from the stored refresh token (or the newer
    /// rotated one kept in `data_dir`).
    pub fn new(
        client: Client,
        stored: String,
        data_dir: &std::path::Path,
        timeout: Duration,
    ) -> TokenSource {
        let rotated_file = data_dir.join("oauth2_refresh_token");
        let current = read_rotated(&rotated_file, &stored).unwrap_or_else(|| stored.clone());
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
            stored,
            rotated_file,
            state: Mutex::new((None, current)),
            agent,
        }
    }

    /// A valid access token (cached, or refreshed now).
    pub fn access_token(&self) -> Result<String, EmailError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cached) = &state.0 {
            if Instant::now() + EARLY < cached.until {
                return Ok(cached.token.clone());
            }
        }
        let fresh = self.refresh(&state.1)?;
        if let Some(rotated) = &fresh.refresh_token {
            if *rotated != state.1 {
                state.1 = rotated.clone();
                // Not fatal for this token; the next start would use an older one.
                if let Err(e) = write_rotated(&self.rotated_file, &self.stored, rotated) {
                    eprintln!("email.oauth2_rotated_not_saved error={}", e.kind());
                }
            }
        }
        let token = fresh.access_token.clone();
        state.0 = Some(Cached {
            token: fresh.access_token,
            until: Instant::now() + Duration::from_secs(fresh.expires_in.min(MAX_LIFETIME_SECS)),
        });
        Ok(token)
    }

    /// Forgets the cached access token (the server refused it).
    pub fn invalidate(&self) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0 = None;
    }

    fn refresh(&self, refresh_token: &str) -> Result<Fresh, EmailError> {
        let body = refresh_request(&self.client, refresh_token);
        let sent = self
            .agent
            .post(&self.client.token_url)
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
        read_answer(status, &bytes)
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

fn fingerprint(secret: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The rotated token kept for `stored`, if the file was written for that credential.
fn read_rotated(path: &std::path::Path, stored: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let (print, token) = text.trim_end().split_once('\n')?;
    (print == fingerprint(stored) && !token.is_empty()).then(|| token.to_owned())
}

fn write_rotated(path: &std::path::Path, stored: &str, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic::replace(
        path,
        format!("{}\n{token}\n", fingerprint(stored)).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_form_encoded() {
        let client = Client {
            token_url: "https://x".into(),
            client_id: "id 1".into(),
            client_secret: Some("s&=".into()),
        };
        assert_eq!(
            refresh_request(&client, "r/t+"),
            "grant_type=refresh_token&refresh_token=r%2Ft%2B&client_id=id%201&client_secret=s%26%3D"
        );
    }

    #[test]
    fn answers_are_classified() {
        let ok = read_answer(
            200,
            br#"{"access_token":"at","expires_in":10,"refresh_token":"r2"}"#,
        )
        .expect("test value");
        assert_eq!(ok.access_token, "at");
        assert_eq!(ok.refresh_token.as_deref(), Some("r2"));
        assert!(matches!(
            read_answer(400, br#"{"error":"invalid_grant"}"#),
            Err(EmailError::Revoked)
        ));
        assert!(matches!(
            read_answer(401, br#"{"error":"invalid_client"}"#),
            Err(EmailError::Auth(_))
        ));
        assert!(matches!(
            read_answer(503, b"down"),
            Err(EmailError::Network(_))
        ));
        assert!(matches!(
            read_answer(200, b"{}"),
            Err(EmailError::Server(_))
        ));
        assert!(matches!(
            read_answer(200, br#"{"access_token":"a\u0001b"}"#),
            Err(EmailError::Server(_))
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

    #[test]
    fn a_rotated_token_is_used_only_for_the_credential_it_replaced() {
        let dir = tempfile::tempdir().expect("test value");
        let path = dir.path().join("oauth2_refresh_token");
        write_rotated(&path, "old", "newer").expect("test value");
        assert_eq!(read_rotated(&path, "old").as_deref(), Some("newer"));
        assert_eq!(read_rotated(&path, "stored-again"), None);
    }
}
