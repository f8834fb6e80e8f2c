//! What the core hands a plugin at `initialize`, and reading its credentials.
//!
//! A credential is read only from the plugin's own credentials directory, by a
//! plain file name; a name that could leave that directory is refused. A
//! credential's value is never put in an error or a `Debug` output.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::InitError;

/// Largest credential file read.
pub const MAX_CREDENTIAL_BYTES: u64 = 64 << 10;

/// The `initialize` params: `{plugin, version, config, data_dir, credentials_dir}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Init {
    /// The plugin's name (its folder name).
    pub plugin: String,
    /// The core's version.
    #[serde(default)]
    pub version: String,
    /// The plugin's `[plugins.<name>]` config, already checked against its `config_schema`.
    #[serde(default)]
    pub config: Value,
    /// A directory the plugin may write (also its cwd and HOME).
    pub data_dir: PathBuf,
    /// This plugin's own credentials directory, if it declared credentials.
    #[serde(default)]
    pub credentials_dir: Option<PathBuf>,
}

impl Init {
    /// The config as `T`; a mismatch is a `CONFIG_ERROR`. A missing config reads as `{}`.
    pub fn config_as<T: DeserializeOwned>(&self) -> Result<T, InitError> {
        let config = match &self.config {
            Value::Null => Value::Object(Map::new()),
            other => other.clone(),
        };
        serde_json::from_value(config).map_err(|e| InitError::config(format!("config: {e}")))
    }

    /// Reads the credential `name` (one trailing newline removed).
    ///
    /// `name` must match `[A-Za-z0-9_.-]{1,64}` and be neither `.` nor `..`.
    pub fn credential(&self, name: &str) -> Result<Secret, CredentialError> {
        if !valid_credential_name(name) {
            return Err(CredentialError::InvalidName);
        }
        let dir = self
            .credentials_dir
            .as_ref()
            // No directory: nothing of this plugin's is stored (or it
            // declares none), so this one is not set either.
            .ok_or_else(|| CredentialError::Missing(name.to_owned()))?;
        let file = std::fs::File::open(dir.join(name)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CredentialError::Missing(name.to_owned()),
            _ => CredentialError::Unreadable(name.to_owned()),
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_CREDENTIAL_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| CredentialError::Unreadable(name.to_owned()))?;
        if bytes.len() as u64 > MAX_CREDENTIAL_BYTES {
            return Err(CredentialError::TooLarge(name.to_owned()));
        }
        let mut text =
            String::from_utf8(bytes).map_err(|_| CredentialError::NotText(name.to_owned()))?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Ok(Secret(text))
    }
}

/// Credential names as the manifest schema allows them: one plain file name.
fn valid_credential_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A credential's value; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself: pass it on, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a credential could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The name is not one plain file name.
    #[error("a credential name must match [A-Za-z0-9_.-]{{1,64}} and not be . or ..")]
    InvalidName,
    /// No such credential (or none of this plugin's is stored, or its
    /// manifest declares it in neither `credentials` nor `optional_credentials`).
    #[error("credential `{0}` is not set")]
    Missing(String),
    /// It exists but cannot be read.
    #[error("credential `{0}` cannot be read")]
    Unreadable(String),
    /// It is over [`MAX_CREDENTIAL_BYTES`].
    #[error("credential `{0}` is over {MAX_CREDENTIAL_BYTES} bytes")]
    TooLarge(String),
    /// It is not UTF-8.
    #[error("credential `{0}` is not UTF-8 text")]
    NotText(String),
}

impl From<CredentialError> for InitError {
    fn from(error: CredentialError) -> InitError {
        match error {
            CredentialError::InvalidName => InitError::config(error.to_string()),
            CredentialError::Missing(_)
            | CredentialError::Unreadable(_)
            | CredentialError::TooLarge(_)
            | CredentialError::NotText(_) => InitError::auth(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;

    fn init_with(dir: Option<PathBuf>) -> Init {
        Init {
            plugin: "t".into(),
            version: "0.1.0".into(),
            config: Value::Null,
            data_dir: std::env::temp_dir(),
            credentials_dir: dir,
        }
    }

    #[test]
    fn names_that_could_leave_the_directory_are_refused() {
        let init = init_with(Some(std::env::temp_dir()));
        for name in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\0b", "é"] {
            assert_eq!(
                init.credential(name),
                Err(CredentialError::InvalidName),
                "{name:?}"
            );
        }
        assert!(valid_credential_name("api_token.v2-x"));
    }

    #[test]
    fn credentials_are_read_and_trimmed_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("carapace-sdk-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("token"), "s3cret\n").expect("write");
        let init = init_with(Some(dir.clone()));
        let secret = init.credential("token").expect("readable");
        assert_eq!(secret.expose(), "s3cret");
        assert!(!format!("{secret:?}").contains("s3cret"));
        let missing = InitError::from(init.credential("other").expect_err("missing"));
        assert_eq!(missing.category, Category::AuthError);
        // No directory: nothing of the plugin's is stored, so it is missing.
        let none = InitError::from(init_with(None).credential("token").expect_err("no dir"));
        assert_eq!(none.category, Category::AuthError);
        assert!(
            none.message.contains("`token` is not set"),
            "{}",
            none.message
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn config_mismatch_is_a_config_error() {
        #[derive(Deserialize)]
        struct Wanted {
            #[allow(dead_code)]
            url: String,
        }
        let init = init_with(None);
        let error = init.config_as::<Wanted>().err().expect("no url");
        assert_eq!(error.category, Category::ConfigError);
        let empty: Map<String, Value> = init.config_as().expect("null reads as {}");
        assert!(empty.is_empty());
    }
}
