//! The model credential: read from the host's store at each request (so
//! `carapace auth set` takes effect at once), never logged, never returned to
//! the container.
//!
//! `keys/model/anthropic_api_key` becomes `x-api-key`;
//! `keys/model/anthropic_oauth_token` becomes `authorization: Bearer`.
//! When both are stored the API key wins. Under systemd the files
//! `$CREDENTIALS_DIRECTORY/model.<name>` are read instead. Both are the core's
//! own: no plugin may be named `model` ([`crate::plugins::reserved`]), so no
//! plugin's `credentials/<plugin>/` or `<plugin>.<name>` ids reach them.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};

use crate::credentials::{self, MAX_SECRET_BYTES};
use crate::paths::Home;

pub use crate::credentials::MODEL_CREDENTIAL_PLUGIN;
/// The Anthropic API key (`x-api-key`).
pub const ANTHROPIC_API_KEY: &str = "anthropic_api_key";
/// The Anthropic OAuth token (`authorization: Bearer`).
pub const ANTHROPIC_OAUTH_TOKEN: &str = "anthropic_oauth_token";

/// The header that carries an API key.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Why the model credential could not be read; names paths, never values.
#[derive(Debug, thiserror::Error)]
pub enum CredentialLookupError {
    /// Neither credential is stored.
    #[error(
        "no model credential is stored; run `carapace auth set --plugin {MODEL_CREDENTIAL_PLUGIN} \
         {ANTHROPIC_API_KEY}` (or `{ANTHROPIC_OAUTH_TOKEN}`)"
    )]
    Missing,
    /// The file exists but may not be used.
    #[error("{path}: {reason}")]
    Unusable {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The real credential for one upstream request. `Debug` never shows the value.
pub struct UpstreamAuth {
    kind: AuthKind,
    value: Vec<u8>,
}

/// Which header a credential goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `x-api-key: <key>`.
    ApiKey,
    /// `authorization: Bearer <token>`.
    Bearer,
}

impl UpstreamAuth {
    /// A credential from its raw value (surrounding whitespace is dropped).
    pub fn new(kind: AuthKind, value: &[u8]) -> UpstreamAuth {
        let trimmed = value.trim_ascii();
        UpstreamAuth {
            kind,
            value: trimmed.to_vec(),
        }
    }

    /// Which header it goes into.
    pub fn kind(&self) -> AuthKind {
        self.kind
    }

    /// The value itself, for the sanitizer's set of stored secrets only (`secret_values`).
    pub fn secret_bytes(&self) -> &[u8] {
        &self.value
    }

    /// The header to send upstream, marked sensitive; `None` for a value that
    /// cannot be a header (control characters, empty).
    pub fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        if self.value.is_empty() {
            return None;
        }
        let (name, mut value) = match self.kind {
            AuthKind::ApiKey => (X_API_KEY, HeaderValue::from_bytes(&self.value).ok()?),
            AuthKind::Bearer => {
                let mut text = b"Bearer ".to_vec();
                text.extend_from_slice(&self.value);
                let value = HeaderValue::from_bytes(&text);
                text.fill(0);
                (AUTHORIZATION, value.ok()?)
            }
        };
        value.set_sensitive(true);
        Some((name, value))
    }
}

impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAuth")
            .field("kind", &self.kind)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl Drop for UpstreamAuth {
    fn drop(&mut self) {
        self.value.fill(0);
    }
}

/// Where the proxy gets the real credential; the core may supply its own.
pub trait CredentialSource: Send + Sync {
    /// The credential to inject, looked up for each request.
    fn model_credential(&self) -> Result<UpstreamAuth, CredentialLookupError>;
}

/// The host's credentials store (`keys/model/...`, or systemd's directory).
#[derive(Debug, Clone)]
pub struct StoreCredentials {
    home: Home,
    systemd: Option<PathBuf>,
}

impl StoreCredentials {
    /// The store under `home`, or `$CREDENTIALS_DIRECTORY` when systemd set it.
    pub fn new(home: Home) -> StoreCredentials {
        StoreCredentials {
            home,
            systemd: credentials::systemd_dir(),
        }
    }

    /// The store under `home` only, ignoring the environment.
    pub fn at_home(home: Home) -> StoreCredentials {
        StoreCredentials {
            home,
            systemd: None,
        }
    }

    fn path_of(&self, name: &str) -> PathBuf {
        match &self.systemd {
            Some(dir) => dir.join(format!("{MODEL_CREDENTIAL_PLUGIN}.{name}")),
            None => self.home.model_credentials_dir().join(name),
        }
    }
}

impl CredentialSource for StoreCredentials {
    fn model_credential(&self) -> Result<UpstreamAuth, CredentialLookupError> {
        let origin = match self.systemd {
            Some(_) => Origin::Systemd,
            None => Origin::Store,
        };
        for (name, kind) in [
            (ANTHROPIC_API_KEY, AuthKind::ApiKey),
            (ANTHROPIC_OAUTH_TOKEN, AuthKind::Bearer),
        ] {
            if let Some(mut value) = read_private(&self.path_of(name), origin)? {
                let auth = UpstreamAuth::new(kind, &value);
                value.fill(0);
                return Ok(auth);
            }
        }
        Err(CredentialLookupError::Missing)
    }
}

/// Where a credential file lives, which decides what its owner and mode must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The home's store: the file must be ours and private (0600 or tighter).
    Store,
    /// systemd's `$CREDENTIALS_DIRECTORY`: systemd writes each file 0400 owned by root
    /// and grants the service's user read access with an ACL (whose mask then shows as
    /// group bits), or, where the file system has no ACLs, hands the file to that user;
    /// the directory is the unit's own and read-only. Root or us may own it; the mode
    /// bits are systemd's, not a sign of a loose file.
    Systemd,
}

/// Reads a credential file that is plain and private as its [`Origin`] requires; `None` if absent.
fn read_private(path: &Path, origin: Origin) -> Result<Option<Vec<u8>>, CredentialLookupError> {
    let unusable = |reason: String| CredentialLookupError::Unusable {
        path: path.display().to_string(),
        reason,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unusable(e.to_string())),
    };
    let meta = file.metadata().map_err(|e| unusable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unusable("not a plain file".into()));
    }
    let ours = meta.uid() == nix::unistd::geteuid().as_raw();
    let systemds = origin == Origin::Systemd && meta.uid() == 0;
    if !(ours || systemds) {
        return Err(unusable(format!("owned by uid {}, not us", meta.uid())));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if origin == Origin::Store && mode & 0o077 != 0 {
        return Err(unusable(format!(
            "mode {mode:04o} lets other users in; run `chmod 600 {}`",
            path.display()
        )));
    }
    let mut value = Vec::new();
    let limit = u64::try_from(MAX_SECRET_BYTES).unwrap_or(u64::MAX);
    file.take(limit + 1)
        .read_to_end(&mut value)
        .map_err(|e| unusable(e.to_string()))?;
    if value.len() > MAX_SECRET_BYTES || value.trim_ascii().is_empty() {
        value.fill(0);
        return Err(unusable(format!("must hold 1 to {MAX_SECRET_BYTES} bytes")));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_wins_and_debug_hides_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().to_path_buf());
        let source = StoreCredentials::at_home(home.clone());
        assert!(matches!(
            source.model_credential(),
            Err(CredentialLookupError::Missing)
        ));
        credentials::set(&home, "model", ANTHROPIC_OAUTH_TOKEN, b"tok-123\n").expect("set");
        let auth = source.model_credential().expect("token");
        let (name, value) = auth.header().expect("header");
        assert_eq!(name, AUTHORIZATION);
        assert_eq!(value.as_bytes(), b"Bearer tok-123");
        assert!(value.is_sensitive());
        credentials::set(&home, "model", ANTHROPIC_API_KEY, b"key-456").expect("set");
        let auth = source.model_credential().expect("key");
        assert_eq!(auth.kind(), AuthKind::ApiKey);
        assert!(!format!("{auth:?}").contains("key-456"));
    }

    #[test]
    fn a_loose_file_is_refused_without_its_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().to_path_buf());
        let path = credentials::set(&home, "model", ANTHROPIC_API_KEY, b"sekrit").expect("set");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = StoreCredentials::at_home(home)
            .model_credential()
            .expect_err("loose");
        let text = err.to_string();
        assert!(text.contains("chmod 600"), "{text}");
        assert!(!text.contains("sekrit"));
    }

    /// systemd's own credential files read 0440 (an ACL's mask) and are owned by root:
    /// they must be taken; the same mode in the home's store is refused.
    #[test]
    fn a_systemd_credential_is_taken_with_the_mode_systemd_gives_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let systemd = dir.path().join("credentials");
        std::fs::create_dir(&systemd).expect("mkdir");
        let value = format!("sk-test-{}", uuid::Uuid::new_v4().simple());
        let file = systemd.join(format!("{MODEL_CREDENTIAL_PLUGIN}.{ANTHROPIC_API_KEY}"));
        std::fs::write(&file, &value).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o440)).expect("chmod");
        let home = Home::at(dir.path().join("home"));
        let source = StoreCredentials {
            home: home.clone(),
            systemd: Some(systemd),
        };
        let auth = source.model_credential().expect("systemd's file is taken");
        assert_eq!(auth.kind(), AuthKind::ApiKey);
        let (_, header) = auth.header().expect("header");
        assert_eq!(header.as_bytes(), value.as_bytes());

        let stored =
            credentials::set(&home, "model", ANTHROPIC_API_KEY, value.as_bytes()).expect("set");
        std::fs::set_permissions(&stored, std::fs::Permissions::from_mode(0o440)).expect("chmod");
        let refused = StoreCredentials::at_home(home).model_credential();
        assert!(
            matches!(refused, Err(CredentialLookupError::Unusable { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn control_characters_make_no_header() {
        assert!(UpstreamAuth::new(AuthKind::ApiKey, b"a\x01b")
            .header()
            .is_none());
        assert!(UpstreamAuth::new(AuthKind::ApiKey, b"  ")
            .header()
            .is_none());
    }
}
