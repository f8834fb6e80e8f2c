//! The values of the secrets the core stores, loaded into the shared sanitizer
//! so that every redaction path (answers, skills, logs, the audit log) removes
//! them and their encodings (issue 12, finding 6).
//!
//! Sources: every file of `credentials/<plugin>/` and of `keys/model/`, the
//! files of systemd's `$CREDENTIALS_DIRECTORY`, the model credential as the
//! model proxy reads it, and the audit key. Loaded at start and on `reload`
//! (`assemble`), and when `carapace auth set|rm` tells the running core; a
//! value replaced or removed stays redacted until the core restarts.
//!
//! A file is matched whole and, since a plugin may answer with one field of
//! it, field by field: each JSON string leaf (nested up to 32 levels), or each
//! `KEY=VALUE` / `KEY: VALUE` line's value, of 8 bytes or more, at most
//! [`MAX_FIELDS_PER_FILE`] per file, less the fields public by design
//! ([`PUBLIC_FIELDS`]: a project id, a token URL). Every field is a value of
//! its own, so it gets its encodings even when the file is too long to get them.
//! Must never log a value: only counts and the names of values too short to match.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::credentials;
use crate::model_proxy::{CredentialSource, StoreCredentials};
use crate::paths::Home;
use crate::sanitize::{KnownSecrets, MIN_SECRET_BYTES};

/// What a refresh loaded: counts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Values whose exact text (and encodings) is now redacted.
    pub values: usize,
    /// Values too short to match safely (under [`MIN_SECRET_BYTES`]).
    pub skipped: usize,
}

/// Reads every stored secret and puts the set in force for the process's sanitizer.
pub fn refresh(home: &Home) -> Loaded {
    refresh_from(home, credentials::systemd_dir().as_deref())
}

/// Every value loaded since the core started: a value replaced or removed
/// stays redacted, since a running handler (or its copy of its credentials) may
/// still hold it. Only a restart forgets it.
fn seen() -> &'static Mutex<BTreeSet<Vec<u8>>> {
    static SEEN: OnceLock<Mutex<BTreeSet<Vec<u8>>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

/// [`refresh`] with the systemd directory given explicitly.
pub fn refresh_from(home: &Home, systemd: Option<&Path>) -> Loaded {
    let mut found = collect(home, systemd);
    for (label, value) in &found {
        if value.trim_ascii().len() < MIN_SECRET_BYTES {
            tracing::warn!(
                credential = %label,
                min_bytes = MIN_SECRET_BYTES,
                "a stored secret is too short to be redacted from answers and logs"
            );
        }
    }
    let mut seen = match seen().lock() {
        Ok(seen) => seen,
        Err(poisoned) => poisoned.into_inner(),
    };
    for (_, value) in &mut found {
        for field in fields(value) {
            seen.insert(field);
        }
        seen.insert(std::mem::take(value));
    }
    let known = KnownSecrets::new(seen.iter().map(Vec::as_slice));
    let loaded = Loaded {
        values: known.len(),
        skipped: known.skipped(),
    };
    // Swapped in under the lock: two refreshes at once cannot put the older set last.
    crate::sanitize::shared().set_known(known);
    drop(seen);
    tracing::info!(
        values = loaded.values,
        skipped = loaded.skipped,
        "stored secrets loaded for redaction"
    );
    loaded
}

/// Most field values taken from one stored file: bounds the set's memory.
pub const MAX_FIELDS_PER_FILE: usize = 256;
/// Deepest JSON nesting searched for string leaves.
const MAX_FIELD_DEPTH: usize = 32;

/// The field values of a multi-field credential file, each matched (with its
/// encodings) on its own: the string leaves of a JSON document, or else the
/// value of each `KEY=VALUE` / `KEY: VALUE` line (`export` and quotes
/// dropped). Only values of [`MIN_SECRET_BYTES`] or more, at most
/// [`MAX_FIELDS_PER_FILE`].
fn fields(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    match serde_json::from_slice::<serde_json::Value>(file) {
        Ok(json) => json_leaves(&json, 0, &mut out),
        Err(_) => line_values(file, &mut out),
    }
    out
}

fn keep_field(out: &mut Vec<Vec<u8>>, value: &[u8]) {
    let value = value.trim_ascii();
    if value.len() >= MIN_SECRET_BYTES && out.len() < MAX_FIELDS_PER_FILE {
        out.push(value.to_vec());
    }
}

fn json_leaves(value: &serde_json::Value, depth: usize, out: &mut Vec<Vec<u8>>) {
    use serde_json::Value;
    if depth > MAX_FIELD_DEPTH || out.len() >= MAX_FIELDS_PER_FILE {
        return;
    }
    match value {
        Value::String(s) => keep_field(out, s.as_bytes()),
        Value::Array(items) => items.iter().for_each(|v| json_leaves(v, depth + 1, out)),
        Value::Object(map) => map
            .iter()
            .filter(|(key, _)| !is_public_field(key.as_bytes()))
            .for_each(|(_, v)| json_leaves(v, depth + 1, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Fields of common credential files that are public by design (Google's
/// service-account and OAuth client files, token files): matching them would
/// redact ordinary answers (a project id, a well-known URL) and protect nothing.
const PUBLIC_FIELDS: &[&str] = &[
    "type",
    "project_id",
    "client_email",
    "client_id",
    "auth_uri",
    "token_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
    "redirect_uris",
    "javascript_origins",
    "token_type",
    "scope",
    "scopes",
    "expiry",
    "expires_in",
    "expires_at",
];

/// Whether a field of this name is public by design ([`PUBLIC_FIELDS`]).
fn is_public_field(key: &[u8]) -> bool {
    PUBLIC_FIELDS
        .iter()
        .any(|public| public.as_bytes().eq_ignore_ascii_case(key))
}

/// `.env` and YAML-like lines: the value after the first `=` or `: ` of a
/// line whose key is a plain name.
fn line_values(file: &[u8], out: &mut Vec<Vec<u8>>) {
    for line in file.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        let line = line.strip_prefix(b"export ").unwrap_or(line);
        let eq = line.iter().position(|&b| b == b'=');
        let colon = line.windows(2).position(|w| w == b": ");
        let (key, value) = match (eq, colon) {
            (Some(e), Some(c)) if c < e => (&line[..c], &line[c + 2..]),
            (Some(e), _) => (&line[..e], &line[e + 1..]),
            (None, Some(c)) => (&line[..c], &line[c + 2..]),
            (None, None) => continue,
        };
        let named = !key.is_empty()
            && key
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !named || is_public_field(key) {
            continue;
        }
        let value = value.trim_ascii();
        let unquoted = match value {
            [q @ (b'"' | b'\''), inner @ .., last] if last == q => inner,
            _ => value,
        };
        keep_field(out, unquoted);
    }
}

/// Every stored secret, labelled by where it came from (never by its value).
fn collect(home: &Home, systemd: Option<&Path>) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let store = credentials::store_dir(home);
    for plugin_dir in entries(&store) {
        for file in entries(&plugin_dir) {
            push_file(&mut found, &file);
        }
    }
    let dirs = [
        Some(home.model_credentials_dir()),
        systemd.map(Path::to_path_buf),
    ];
    for dir in dirs.iter().flatten() {
        for file in entries(dir) {
            push_file(&mut found, &file);
        }
    }
    let model = StoreCredentials::new(home.clone());
    if let Ok(auth) = model.model_credential() {
        found.push(("model credential".into(), auth.secret_bytes().to_vec()));
    }
    let key = home.audit_key();
    if let Some(text) = read_bounded(&key) {
        if let Ok(bytes) = hex::decode(text.trim_ascii()) {
            found.push((key.display().to_string(), bytes));
        }
        found.push((key.display().to_string(), text));
    }
    found
}

fn push_file(found: &mut Vec<(String, Vec<u8>)>, file: &Path) {
    if let Some(value) = read_bounded(file) {
        found.push((file.display().to_string(), value));
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

/// A stored secret's content, or nothing if it cannot be read safely.
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    credentials::read_no_follow(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_value_is_collected_under_a_label_that_is_not_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().join("home"));
        let systemd = dir.path().join("systemd");
        std::fs::create_dir(&systemd).expect("mkdir");
        let plugin_value = format!("plugin-{}", uuid::Uuid::new_v4().simple());
        let model_value = format!("model-{}", uuid::Uuid::new_v4().simple());
        let unit_value = format!("unit-{}", uuid::Uuid::new_v4().simple());
        credentials::set(&home, "mail", "token", plugin_value.as_bytes()).expect("set");
        credentials::set(&home, "model", "anthropic_api_key", model_value.as_bytes()).expect("set");
        credentials::set(&home, "mail", "pin", b"1234").expect("set");
        std::fs::write(systemd.join("mail.other"), &unit_value).expect("write");
        let found = collect(&home, Some(&systemd));
        for value in [&plugin_value, &model_value, &unit_value] {
            assert!(found.iter().any(|(_, v)| v == value.as_bytes()));
            assert!(found
                .iter()
                .all(|(label, _)| !label.contains(value.as_str())));
        }
        let loaded = refresh_from(&home, Some(&systemd));
        assert_eq!(loaded.skipped, 1, "the 4-byte pin");
        assert!(loaded.values >= 3);
    }

    #[test]
    fn each_field_of_a_multi_field_credential_file_is_redacted_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().join("home"));
        let fresh = |tag: &str| format!("{tag}-{}", uuid::Uuid::new_v4().simple());
        let (client_secret, refresh_token) = (fresh("cs"), fresh("rt"));
        let (env_value, yaml_value) = (fresh("env"), fresh("yaml"));
        // Over 2 KiB as a whole, so the file itself gets no encodings.
        let oauth = serde_json::json!({
            "installed": {"client_id": fresh("id"), "client_secret": client_secret,
                "redirect_uris": ["http://localhost"], "padding": "p".repeat(3000),
                "token_uri": "https://oauth2.googleapis.com/token"},
            "tokens": [{"refresh_token": refresh_token, "expiry": 3600}],
        });
        credentials::set(&home, "mail", "oauth", oauth.to_string().as_bytes()).expect("set");
        let env =
            format!("# comment\nexport API_TOKEN=\"{env_value}\"\nDEBUG=1\nsecret: {yaml_value}\n");
        credentials::set(&home, "mail", "env", env.as_bytes()).expect("set");
        refresh_from(&home, None);
        let san = crate::sanitize::shared();
        let b64 = |s: &str| {
            crate::sanitize::codec::base64_encode(
                s.as_bytes(),
                crate::sanitize::codec::Alphabet::Standard,
            )
        };
        for value in [&client_secret, &refresh_token, &env_value, &yaml_value] {
            for form in [value.clone(), b64(value), hex::encode(value)] {
                let (out, kinds) = san.redact_str(&form);
                assert_eq!(out, "[REDACTED:stored_secret]", "{value}");
                assert_eq!(kinds, vec![crate::sanitize::KNOWN_KIND]);
            }
        }
        // Fields public by design stay readable.
        for public in ["http://localhost", "https://oauth2.googleapis.com/token"] {
            assert_eq!(san.redact_str(public).0, public);
        }
        let line = format!("DEBUG=1 API_TOKEN={env_value}");
        let (line, _) = san.redact_str(&line);
        assert_eq!(line, "DEBUG=1 API_TOKEN=[REDACTED:stored_secret]");
    }
}
