//! OAuth 2.0 access tokens from a refresh token (RFC 6749 §6), sent as
//! `Authorization: Bearer` (RFC 6750). The credential names, the config key
//! (`oauth2.token_url`) and the rotated-token file match the email plugin's.
//!
//! The request body and the reading of the answer are pure ([`refresh_body`],
//! [`read_answer`]); [`TokenSource`] does the POST and caches the access token until
//! a minute before it expires. A refresh token the endpoint rotates is kept in the
//! data dir (`oauth2_refresh_token`, 0600) beside a fingerprint of the stored
//! credential it replaced: a restart uses the newest, a credential stored anew wins.
//!
//! Must never: log or put in an error a token, the client secret or the endpoint's
//! answer body; follow a redirect.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::CalError;

/// Renew this long before the access token expires.
const EARLY: Duration = Duration::from_secs(60);
/// Lifetime assumed when the endpoint names none.
const DEFAULT_LIFETIME: u64 = 3600;
/// Longest an access token is trusted, whatever the endpoint says (a huge
/// `expires_in` would overflow the clock and stop every call).
const MAX_LIFETIME_SECS: u64 = 86_400;

/// The OAuth2 client: where and as whom to refresh.
#[derive(Clone)]
pub struct Client {
    /// The token endpoint (https, or http to loopback).
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret of a confidential client.
    pub client_secret: Option<String>,
}

/// The `application/x-www-form-urlencoded` body of a refresh request.
pub fn refresh_body(client: &Client, refresh_token: &str) -> String {
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
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every byte but the unreserved ones percent-encoded.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
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

/// Reads the endpoint's answer: `invalid_grant` (revoked, expired) and other 4xx are
/// [`CalError::Revoked`]; 5xx is retriable; garbage is unreadable.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Fresh, CalError> {
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let token = answer
            .as_ref()
            .and_then(|a| a.access_token.clone())
            .filter(|t| !t.is_empty() && t.bytes().all(|b| (0x21..0x7f).contains(&b)))
            .ok_or_else(|| {
                CalError::Malformed("the token endpoint gave no usable access token".into())
            })?;
        return Ok(Fresh {
            access_token: token,
            expires_in: answer
                .as_ref()
                .and_then(|a| a.expires_in)
                .unwrap_or(DEFAULT_LIFETIME),
            refresh_token: answer
                .and_then(|a| a.refresh_token)
                .filter(|t| !t.is_empty()),
        });
    }
    match status {
        400..=499 => {
            let code: String = answer
                .and_then(|a| a.error)
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            Err(CalError::Revoked(code))
        }
        _ => Err(CalError::Status {
            status,
            step: "the OAuth2 token refresh",
        }),
    }
}

struct State {
    cached: Option<(String, Instant)>,
    refresh_token: String,
}

/// Hands out a valid access token, refreshing it when needed.
pub struct TokenSource {
    client: Client,
    stored: String,
    rotated_file: PathBuf,
    state: Mutex<State>,
    agent: ureq::Agent,
}

impl TokenSource {
    /// A source for `client` from the stored refresh token (or the newer rotated one
    /// kept in `data_dir` for it).
    pub fn new(client: Client, stored: String, data_dir: &Path, timeout: Duration) -> TokenSource {
        let rotated_file = data_dir.join("oauth2_refresh_token");
        let refresh_token = read_rotated(&rotated_file, &stored).unwrap_or_else(|| stored.clone());
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
            stored,
            rotated_file,
            state: Mutex::new(State {
                cached: None,
                refresh_token,
            }),
            agent,
        }
    }

    /// A valid access token: the cached one, or one refreshed now.
    pub fn access_token(&self) -> Result<String, CalError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, until)) = &state.cached {
            if Instant::now() + EARLY < *until {
                return Ok(token.clone());
            }
        }
        let fresh = self.refresh(&state.refresh_token)?;
        if let Some(rotated) = fresh.refresh_token.filter(|r| *r != state.refresh_token) {
            // Not fatal for this token: a restart would try the older one.
            let _ = write_rotated(&self.rotated_file, &self.stored, &rotated);
            state.refresh_token = rotated;
        }
        let until = Instant::now() + Duration::from_secs(fresh.expires_in.min(MAX_LIFETIME_SECS));
        state.cached = Some((fresh.access_token.clone(), until));
        Ok(fresh.access_token)
    }

    /// Forgets the cached access token (the server refused it).
    pub fn invalidate(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cached = None;
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
        read_answer(status, &bytes)
    }
}

fn fingerprint(secret: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The rotated token kept for `stored`, if the file was written for that credential.
fn read_rotated(path: &Path, stored: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let (print, token) = text.trim_end().split_once('\n')?;
    (print == fingerprint(stored) && !token.is_empty()).then(|| token.to_owned())
}

/// Writes the rotated token beside the stored credential's fingerprint: a new file
/// (0600, never through a link) renamed over the old one.
fn write_rotated(path: &Path, stored: &str, token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(".oauth2_refresh_token.new");
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(format!("{}\n{token}\n", fingerprint(stored)).as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_form_encoded_and_answers_are_classified() {
        let client = Client {
            token_url: "https://x".into(),
            client_id: "id&1".into(),
            client_secret: Some("s e=cret".into()),
        };
        assert_eq!(
            refresh_body(&client, "r/t+"),
            "grant_type=refresh_token&refresh_token=r%2Ft%2B&client_id=id%261&client_secret=s%20e%3Dcret"
        );
        let ok = read_answer(
            200,
            br#"{"access_token":"at","expires_in":60,"refresh_token":"r2"}"#,
        )
        .expect("ok");
        assert_eq!(
            (
                ok.access_token.as_str(),
                ok.expires_in,
                ok.refresh_token.as_deref()
            ),
            ("at", 60, Some("r2"))
        );
        assert!(
            matches!(read_answer(400, br#"{"error":"invalid_grant"}"#), Err(CalError::Revoked(c)) if c == "invalid_grant")
        );
        assert!(read_answer(503, b"").is_err_and(|e| e.retriable()));
        assert!(matches!(
            read_answer(200, b"{\"access_token\":\"a\\nb\"}"),
            Err(CalError::Malformed(_))
        ));
    }

    #[test]
    fn a_rotated_token_is_used_only_for_the_credential_it_replaced() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("oauth2_refresh_token");
        write_rotated(&path, "stored-1", "rotated-1").expect("write");
        assert_eq!(
            read_rotated(&path, "stored-1").as_deref(),
            Some("rotated-1")
        );
        assert_eq!(read_rotated(&path, "stored-2"), None);
    }
}
