//! OAuth 2.0 access tokens from a refresh token (RFC 6749 §6), without the HTTP:
//! the request body ([`refresh_body`]), the reading of the endpoint's answer
//! ([`read_answer`]), and [`Tokens`], which caches the access token until a minute
//! before it expires and keeps a refresh token the endpoint rotates. Each plugin
//! sends the POST itself, with its own HTTP client, and maps [`RefreshError`] to
//! its own errors.
//!
//! A rotated refresh token is kept in the plugin's data dir
//! ([`ROTATED_FILE`], 0600, replaced atomically, never through a link) beside a
//! fingerprint of the stored credential it replaced: a restart uses the newest,
//! and a credential the person stores anew (`carapace auth login`) wins over it.
//!
//! Must never: put a token, the client secret or the endpoint's answer body in an
//! error or a log line.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The file in the data dir holding a rotated refresh token.
pub const ROTATED_FILE: &str = "oauth2_refresh_token";
/// Renew this long before the access token expires.
const EARLY: Duration = Duration::from_secs(60);
/// Lifetime assumed when the endpoint names none.
const DEFAULT_LIFETIME: u64 = 3600;
/// Longest an access token is trusted, whatever the endpoint says (a huge
/// `expires_in` would overflow the clock and stop every call).
const MAX_LIFETIME_SECS: u64 = 86_400;
/// Longest rotated-token file read.
const MAX_ROTATED_BYTES: u64 = 64 << 10;

/// The OAuth2 client: where and as whom to refresh.
#[derive(Clone)]
pub struct Client {
    /// The token endpoint.
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
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every byte but the unreserved ones (RFC 3986 §2.3) percent-encoded.
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

/// Why a refresh gave no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// `invalid_grant`: the refresh token was revoked or expired.
    #[error("the OAuth2 refresh token is no longer valid")]
    Revoked,
    /// Another 4xx: the endpoint refused the client (its `error` code, cleaned).
    #[error("the token endpoint refused the client ({status} {code})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The endpoint's `error` code, letters, digits and `_` only.
        code: String,
    },
    /// The endpoint failed (5xx or another status): worth a retry.
    #[error("the token endpoint answered {0}")]
    Unavailable(u16),
    /// A 2xx without a usable access token.
    #[error("the token endpoint gave no usable access token")]
    Unreadable,
}

#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    error: Option<String>,
}

/// Reads the endpoint's answer (status and body). An access token must be
/// printable ASCII without spaces (RFC 6750 `b64token`), so it cannot end a header
/// or the XOAUTH2 string early.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Fresh, RefreshError> {
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let Some(answer) = answer else {
            return Err(RefreshError::Unreadable);
        };
        let access_token = answer
            .access_token
            .filter(|t| !t.is_empty() && t.bytes().all(|b| (0x21..0x7f).contains(&b)))
            .ok_or(RefreshError::Unreadable)?;
        return Ok(Fresh {
            access_token,
            expires_in: answer.expires_in.unwrap_or(DEFAULT_LIFETIME),
            refresh_token: answer.refresh_token.filter(|t| !t.is_empty()),
        });
    }
    let code: String = answer
        .and_then(|a| a.error)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    match (status, code.as_str()) {
        (_, "invalid_grant") => Err(RefreshError::Revoked),
        (400..=499, _) => Err(RefreshError::Refused { status, code }),
        _ => Err(RefreshError::Unavailable(status)),
    }
}

struct State {
    cached: Option<(String, Instant)>,
    refresh_token: String,
}

/// The access token of one account: cached, refreshed through the plugin's own
/// POST when it is about to expire, its rotated refresh token kept.
pub struct Tokens {
    /// The refresh token as stored in the credentials.
    stored: String,
    rotated_file: PathBuf,
    state: Mutex<State>,
}

impl Tokens {
    /// Tokens from the stored refresh token, or the newer rotated one kept in
    /// `data_dir` for it.
    pub fn new(stored: String, data_dir: &Path) -> Tokens {
        let rotated_file = data_dir.join(ROTATED_FILE);
        let refresh_token = read_rotated(&rotated_file, &stored).unwrap_or_else(|| stored.clone());
        Tokens {
            stored,
            rotated_file,
            state: Mutex::new(State {
                cached: None,
                refresh_token,
            }),
        }
    }

    /// A valid access token: the cached one, or one `refresh` (the plugin's POST
    /// with the current refresh token) gets now. Calls take turns, so one refresh
    /// serves all the calls waiting for it.
    pub fn access_token<E>(
        &self,
        refresh: impl FnOnce(&str) -> Result<Fresh, E>,
    ) -> Result<String, E> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, until)) = &state.cached {
            if Instant::now() + EARLY < *until {
                return Ok(token.clone());
            }
        }
        let fresh = refresh(&state.refresh_token)?;
        if let Some(rotated) = fresh.refresh_token.filter(|r| *r != state.refresh_token) {
            // Not fatal for this token: a restart would try the older one.
            if let Err(error) = write_rotated(&self.rotated_file, &self.stored, &rotated) {
                eprintln!("oauth2.rotated_not_saved error={}", error.kind());
            }
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
}

/// Which stored credential a rotated token replaced (not a secret's hash for
/// safekeeping: it only tells whether the credential was stored anew).
fn fingerprint(secret: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The rotated token kept for `stored`, if the file was written for that credential.
fn read_rotated(path: &Path, stored: &str) -> Option<String> {
    let bytes = crate::files::read(path, MAX_ROTATED_BYTES).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (print, token) = text.trim_end().split_once('\n')?;
    (print == fingerprint(stored) && !token.is_empty()).then(|| token.to_owned())
}

fn write_rotated(path: &Path, stored: &str, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::files::replace(
        path,
        format!("{}\n{token}\n", fingerprint(stored)).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_form_encoded() {
        let client = Client {
            token_url: "https://x".into(),
            client_id: "id 1&".into(),
            client_secret: Some("s&=".into()),
        };
        assert_eq!(
            refresh_body(&client, "r/t+"),
            "grant_type=refresh_token&refresh_token=r%2Ft%2B&client_id=id%201%26&client_secret=s%26%3D"
        );
    }

    #[test]
    fn answers_are_classified() {
        let ok = read_answer(
            200,
            br#"{"access_token":"at","expires_in":10,"refresh_token":"r2"}"#,
        )
        .expect("a token");
        assert_eq!(
            (
                ok.access_token.as_str(),
                ok.expires_in,
                ok.refresh_token.as_deref()
            ),
            ("at", 10, Some("r2"))
        );
        assert_eq!(
            read_answer(400, br#"{"error":"invalid_grant"}"#),
            Err(RefreshError::Revoked)
        );
        assert_eq!(
            read_answer(401, br#"{"error":"invalid_client<x>"}"#),
            Err(RefreshError::Refused {
                status: 401,
                code: "invalid_clientx".into()
            })
        );
        assert_eq!(
            read_answer(503, b"down"),
            Err(RefreshError::Unavailable(503))
        );
        assert_eq!(read_answer(200, b"{}"), Err(RefreshError::Unreadable));
        for bad in [
            r#"{"access_token":"a\u0001b"}"#,
            r#"{"access_token":"a b"}"#,
            r#"{"access_token":"a\nb"}"#,
        ] {
            assert_eq!(
                read_answer(200, bad.as_bytes()),
                Err(RefreshError::Unreadable),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_rotated_token_is_kept_for_the_credential_it_replaced_only() {
        let dir = tempfile::tempdir().expect("dir");
        let tokens = Tokens::new("stored".into(), dir.path());
        let mut sent = Vec::new();
        let mut refresh = |current: &str| -> Result<Fresh, RefreshError> {
            sent.push(current.to_owned());
            Ok(Fresh {
                access_token: format!("at{}", sent.len()),
                expires_in: 3600,
                refresh_token: Some(format!("rt{}", sent.len())),
            })
        };
        assert_eq!(tokens.access_token(&mut refresh).as_deref(), Ok("at1"));
        assert_eq!(
            tokens.access_token(&mut refresh).as_deref(),
            Ok("at1"),
            "cached"
        );
        tokens.invalidate();
        assert_eq!(tokens.access_token(&mut refresh).as_deref(), Ok("at2"));
        assert_eq!(sent, ["stored", "rt1"]);
        let path = dir.path().join(ROTATED_FILE);
        assert_eq!(read_rotated(&path, "stored").as_deref(), Some("rt2"));
        assert_eq!(read_rotated(&path, "stored-again"), None);
        let restarted = Tokens::new("stored".into(), dir.path());
        let mut seen = String::new();
        let _ = restarted.access_token(|current| -> Result<Fresh, RefreshError> {
            seen = current.to_owned();
            Err(RefreshError::Revoked)
        });
        assert_eq!(seen, "rt2");
    }
}
