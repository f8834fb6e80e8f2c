//! Plugin credentials on the host: the `credentials/<plugin>/<name>` store, its permission
//! checks, and the per-handler directory each plugin is given.
//!
//! Must never log, print or put in an error a credential's value: errors name paths only.
//! A handler is only ever given a directory holding its own credentials. The model's
//! credentials (`auth set --plugin model`) are the core's, kept in `keys/model/` where no
//! plugin name reaches; a reserved plugin name ([`crate::plugins::reserved`]) is refused
//! by everything that hands a directory to a handler.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::paths::Home;
use crate::plugins::reserved::{reserved_reason, valid_plugin_name};

/// The name `auth set --plugin` takes for the model credentials (a reserved plugin name).
pub const MODEL_CREDENTIAL_PLUGIN: &str = "model";

/// Longest credential value accepted.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The environment variable systemd's `LoadCredential=` sets.
pub const SYSTEMD_CREDENTIALS_ENV: &str = "CREDENTIALS_DIRECTORY";

/// Why a credential operation failed; every message names a path, never a value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A file or directory readable or writable by others.
    #[error("{path} has mode {mode:04o}, which lets other users in; run `{fix}`")]
    LooseMode {
        /// The path.
        path: String,
        /// Its permission bits.
        mode: u32,
        /// The command that fixes it.
        fix: String,
    },
    /// A file or directory owned by another user.
    #[error("{path} is owned by uid {owner}, not {uid}; run `{fix}`")]
    ForeignOwner {
        /// The path.
        path: String,
        /// Its owner.
        owner: u32,
        /// The current uid.
        uid: u32,
        /// The command that fixes it.
        fix: String,
    },
    /// Something other than a plain file or directory (a symlink, a socket ...).
    #[error(
        "{path} is not a plain {expected}; remove it (`rm {path}`) and set the credential again"
    )]
    NotPlain {
        /// The path.
        path: String,
        /// `file` or `directory`.
        expected: &'static str,
    },
    /// A bad credential or plugin name.
    #[error("{0}")]
    InvalidName(String),
    /// An empty or oversized value.
    #[error("{0}")]
    InvalidValue(String),
    /// A filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CredentialError + '_ {
    move |source| CredentialError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Credential names match `[A-Za-z0-9_.-]{1,64}` and are neither `.` nor `..`.
pub fn valid_credential_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn check_names(plugin: &str, name: Option<&str>) -> Result<(), CredentialError> {
    if !valid_plugin_name(plugin) {
        return Err(CredentialError::InvalidName(format!(
            "plugin name `{plugin}` must match [a-z][a-z0-9_-]{{0,63}}"
        )));
    }
    if let Some(why) = reserved_reason(plugin) {
        return Err(CredentialError::InvalidName(format!(
            "plugin name `{plugin}` is reserved by the core ({why}); no plugin gets credentials under it"
        )));
    }
    name.map_or(Ok(()), check_credential_name)
}

fn check_credential_name(name: &str) -> Result<(), CredentialError> {
    if valid_credential_name(name) {
        return Ok(());
    }
    Err(CredentialError::InvalidName(format!(
        "credential name `{name}` must match [A-Za-z0-9_.-]{{1,64}} and not be `.` or `..`"
    )))
}

/// `credentials/`.
pub fn store_dir(home: &Home) -> PathBuf {
    home.root().join("credentials")
}

/// `credentials/<plugin>/`.
pub fn plugin_store_dir(home: &Home, plugin: &str) -> PathBuf {
    store_dir(home).join(plugin)
}

/// Where `auth` keeps `owner`'s credentials: `keys/model/` for the model (the core's
/// own), else `credentials/<plugin>/` for a plugin whose name is valid and not reserved.
fn owner_dir(home: &Home, owner: &str, name: &str) -> Result<PathBuf, CredentialError> {
    if owner == MODEL_CREDENTIAL_PLUGIN {
        check_credential_name(name)?;
        return Ok(home.model_credentials_dir());
    }
    check_names(owner, Some(name))?;
    Ok(plugin_store_dir(home, owner))
}

/// `run/credentials/<plugin>/`, the copy made from systemd's credentials.
pub fn materialized_dir(home: &Home, plugin: &str) -> PathBuf {
    home.run_dir().join("credentials").join(plugin)
}

/// `$CREDENTIALS_DIRECTORY`, when systemd set it.
pub fn systemd_dir() -> Option<PathBuf> {
    std::env::var_os(SYSTEMD_CREDENTIALS_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Checks one store entry: plain, owned by this uid, no group/other bits.
fn check_entry(path: &Path, dir: bool) -> Result<std::fs::Metadata, CredentialError> {
    let meta = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    let shown = path.display().to_string();
    let (plain, expected, wanted) = if dir {
        (meta.is_dir(), "directory", "700")
    } else {
        (meta.is_file(), "file", "600")
    };
    if !plain {
        return Err(CredentialError::NotPlain {
            path: shown,
            expected,
        });
    }
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(CredentialError::ForeignOwner {
            fix: format!("chown {uid} {shown}"),
            path: shown,
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::LooseMode {
            fix: format!("chmod {wanted} {shown}"),
            path: shown,
            mode,
        });
    }
    Ok(meta)
}

/// Refuses a store with loose modes, foreign owners or odd file types, naming the fix.
/// A home without `credentials/` passes.
pub fn check_store(home: &Home) -> Result<(), CredentialError> {
    let model = home.model_credentials_dir();
    if std::fs::symlink_metadata(&model).is_ok() {
        check_entry(&model, true)?;
        for file in sorted_entries(&model)? {
            check_entry(&file, false)?;
        }
    }
    let root = store_dir(home);
    if std::fs::symlink_metadata(&root).is_err() {
        return Ok(());
    }
    check_entry(&root, true)?;
    for plugin_dir in sorted_entries(&root)? {
        check_entry(&plugin_dir, true)?;
        for file in sorted_entries(&plugin_dir)? {
            check_entry(&file, false)?;
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CredentialError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    Ok(entries)
}

/// The directory handed to `plugin`'s handler, or `None` when it declares no credentials.
///
/// Under systemd the declared `<plugin>.<name>` files are copied into a private
/// `run/credentials/<plugin>/`; otherwise it is `credentials/<plugin>/` itself (if present).
pub fn credentials_dir_for(
    home: &Home,
    plugin: &str,
    declared: &[String],
) -> Result<Option<PathBuf>, CredentialError> {
    credentials_dir_from(home, plugin, declared, systemd_dir().as_deref())
}

/// [`credentials_dir_for`] with the systemd directory given explicitly.
pub fn credentials_dir_from(
    home: &Home,
    plugin: &str,
    declared: &[String],
    systemd: Option<&Path>,
) -> Result<Option<PathBuf>, CredentialError> {
    handed_dir(home, plugin, declared, None, systemd)
}

/// Copies `plugin`'s declared credentials from the systemd directory into
/// `run/credentials/<plugin>/` (0700, files 0600), replacing any earlier copy.
pub fn materialize(
    home: &Home,
    plugin: &str,
    declared: &[String],
    source: &Path,
) -> Result<PathBuf, CredentialError> {
    copy_private(home, plugin, declared, None, |name| {
        source.join(format!("{plugin}.{name}"))
    })
}

/// The directory handed to `plugin`'s handler when it runs as `owner` (uid, gid), not as the
/// core: a copy of its declared credentials (from systemd's directory, else from the store)
/// in `run/credentials/<plugin>/`, owned by `owner` alone (0700, files 0600), replacing any
/// earlier copy. `None` when it declares none, or has no store directory.
pub fn hand_over(
    home: &Home,
    plugin: &str,
    declared: &[String],
    owner: (u32, u32),
) -> Result<Option<PathBuf>, CredentialError> {
    hand_over_from(home, plugin, declared, owner, systemd_dir().as_deref())
}

/// [`hand_over`] with the systemd directory given explicitly.
pub fn hand_over_from(
    home: &Home,
    plugin: &str,
    declared: &[String],
    owner: (u32, u32),
    systemd: Option<&Path>,
) -> Result<Option<PathBuf>, CredentialError> {
    handed_dir(home, plugin, declared, Some(owner), systemd)
}

/// The store directory itself for a handler of the core's uid; a copy in `run/` for one
/// under systemd or of its own uid (`owner`).
fn handed_dir(
    home: &Home,
    plugin: &str,
    declared: &[String],
    owner: Option<(u32, u32)>,
    systemd: Option<&Path>,
) -> Result<Option<PathBuf>, CredentialError> {
    check_names(plugin, None)?;
    if declared.is_empty() {
        return Ok(None);
    }
    if let Some(source) = systemd {
        return copy_private(home, plugin, declared, owner, |name| {
            source.join(format!("{plugin}.{name}"))
        })
        .map(Some);
    }
    let store = plugin_store_dir(home, plugin);
    if std::fs::symlink_metadata(&store).is_err() {
        return Ok(None);
    }
    check_entry(&store, true)?;
    match owner {
        None => Ok(Some(store)),
        Some(_) => copy_private(home, plugin, declared, owner, |name| store.join(name)).map(Some),
    }
}

/// Copies the declared credentials found at `from(name)` into a fresh
/// `run/credentials/<plugin>/`, given to `owner` when set. Never follows a link.
fn copy_private(
    home: &Home,
    plugin: &str,
    declared: &[String],
    owner: Option<(u32, u32)>,
    from: impl Fn(&str) -> PathBuf,
) -> Result<PathBuf, CredentialError> {
    check_names(plugin, None)?;
    let parent = home.run_dir().join("credentials");
    crate::paths::create_private_dir(&home.run_dir()).map_err(io_error(&parent))?;
    crate::paths::create_private_dir(&parent).map_err(io_error(&parent))?;
    remove_materialized(home, plugin)?;
    let target = materialized_dir(home, plugin);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&target)
        .map_err(io_error(&target))?;
    let give = |path: &Path| match owner {
        Some((uid, gid)) => {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io_error(path))
        }
        None => Ok(()),
    };
    for name in declared {
        check_names(plugin, Some(name))?;
        let source = from(name);
        let mut value = match read_no_follow(&source) {
            Ok(value) => value,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&source)(e)),
        };
        let written = write_private(&target, name, &value);
        value.fill(0);
        give(&written?)?;
    }
    // The directory last: until then only the core can enter it.
    give(&target)?;
    Ok(target)
}

/// A stored secret's content: a plain file, never through a symlink, never
/// waiting on a FIFO (opened non-blocking), at most [`MAX_SECRET_BYTES`].
pub fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a plain file",
        ));
    }
    let mut value = Vec::new();
    file.take(MAX_SECRET_BYTES as u64).read_to_end(&mut value)?;
    Ok(value)
}

/// Removes `run/credentials/<plugin>/` (at plugin stop); absent is fine.
pub fn remove_materialized(home: &Home, plugin: &str) -> Result<(), CredentialError> {
    check_names(plugin, None)?;
    let dir = materialized_dir(home, plugin);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&dir)(e)),
        _ => Ok(()),
    }
}

/// The declared credentials that are missing (a required one missing means `AUTH_ERROR`).
pub fn missing(home: &Home, plugin: &str, declared: &[String]) -> Vec<String> {
    missing_from(home, plugin, declared, systemd_dir().as_deref())
}

/// [`missing`] with the systemd directory given explicitly.
pub fn missing_from(
    home: &Home,
    plugin: &str,
    declared: &[String],
    systemd: Option<&Path>,
) -> Vec<String> {
    if check_names(plugin, None).is_err() {
        return declared.to_vec();
    }
    declared
        .iter()
        .filter(|name| {
            let path = match systemd {
                Some(dir) => dir.join(format!("{plugin}.{name}")),
                None => plugin_store_dir(home, plugin).join(name.as_str()),
            };
            !(valid_credential_name(name) && path.is_file())
        })
        .cloned()
        .collect()
}

/// Stores a credential atomically (0600 file in a 0700 directory); the value is not kept.
/// `plugin` [`MODEL_CREDENTIAL_PLUGIN`] stores the model's credential in `keys/model/`.
pub fn set(
    home: &Home,
    plugin: &str,
    name: &str,
    value: &[u8],
) -> Result<PathBuf, CredentialError> {
    let dir = owner_dir(home, plugin, name)?;
    if value.is_empty() || value.len() > MAX_SECRET_BYTES {
        return Err(CredentialError::InvalidValue(format!(
            "a credential must be 1 to {MAX_SECRET_BYTES} bytes"
        )));
    }
    if let Some(parent) = home.root().parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    crate::paths::create_private_dir(home.root()).map_err(io_error(home.root()))?;
    let mut ancestors = vec![dir.as_path()];
    ancestors.extend(dir.parent().filter(|p| *p != home.root()));
    for step in ancestors.into_iter().rev() {
        crate::paths::create_private_dir(step).map_err(io_error(step))?;
        check_entry(step, true)?;
    }
    write_private(&dir, name, value)
}

/// Writes `dir/name` through a 0600 temporary file renamed into place.
fn write_private(dir: &Path, name: &str, value: &[u8]) -> Result<PathBuf, CredentialError> {
    let target = dir.join(name);
    crate::paths::write_private_file(dir, name, value).map_err(io_error(&target))
}

/// Removes a stored credential; `false` if there was none.
pub fn remove(home: &Home, plugin: &str, name: &str) -> Result<bool, CredentialError> {
    let path = owner_dir(home, plugin, name)?.join(name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// One credential as `auth status` shows it: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialStatus {
    /// The plugin.
    pub plugin: String,
    /// The credential name.
    pub name: String,
    /// Whether a value is stored.
    pub present: bool,
    /// Its permission bits (`0600`), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Whether a plugin's manifest declares it.
    pub declared: bool,
    /// Whether it is declared as optional (a missing one disables nothing).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// Every stored credential, plus the `declared` (plugin, name) pairs not
/// stored; `optional` holds the pairs declared as optional.
pub fn status(
    home: &Home,
    declared: &[(String, Vec<String>)],
    optional: &[(String, Vec<String>)],
) -> Vec<CredentialStatus> {
    let mut found = std::collections::BTreeMap::new();
    let root = store_dir(home);
    let owners = sorted_entries(&root)
        .unwrap_or_default()
        .into_iter()
        .map(|dir| (file_name(&dir), dir))
        .chain([(
            MODEL_CREDENTIAL_PLUGIN.to_owned(),
            home.model_credentials_dir(),
        )]);
    for (plugin, plugin_dir) in owners {
        for file in sorted_entries(&plugin_dir).unwrap_or_default() {
            let name = file_name(&file);
            if name.starts_with('.') && name.ends_with(".tmp") {
                continue;
            }
            let mode = std::fs::symlink_metadata(&file)
                .ok()
                .map(|m| format!("{:04o}", m.permissions().mode() & 0o7777));
            found.insert((plugin.clone(), name), mode);
        }
    }
    let mut wanted = std::collections::BTreeSet::new();
    let mut optional_ones = std::collections::BTreeSet::new();
    for (plugin, names) in declared {
        for name in names {
            wanted.insert((plugin.clone(), name.clone()));
            found.entry((plugin.clone(), name.clone())).or_insert(None);
        }
    }
    for (plugin, names) in optional {
        for name in names {
            optional_ones.insert((plugin.clone(), name.clone()));
            found.entry((plugin.clone(), name.clone())).or_insert(None);
        }
    }
    found
        .into_iter()
        .map(|((plugin, name), mode)| CredentialStatus {
            declared: wanted.contains(&(plugin.clone(), name.clone()))
                || optional_ones.contains(&(plugin.clone(), name.clone())),
            optional: optional_ones.contains(&(plugin.clone(), name.clone())),
            present: mode.is_some(),
            plugin,
            name,
            mode,
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["token", "API_KEY", "a.b-c", "x"] {
            assert!(valid_credential_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(65)] {
            assert!(!valid_credential_name(bad), "{bad}");
        }
        assert!(check_names("Bad", None).is_err());
        assert!(check_names("good", Some("../x")).is_err());
    }

    #[test]
    fn a_reserved_plugin_name_is_handed_no_directory_even_under_systemd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().join("home"));
        let systemd = dir.path().join("systemd");
        std::fs::create_dir_all(&systemd).expect("mkdir");
        std::fs::write(systemd.join("model.anthropic_api_key"), "v").expect("write");
        set(&home, "model", "anthropic_api_key", b"v").expect("the model's own store");
        assert!(home
            .model_credentials_dir()
            .join("anthropic_api_key")
            .is_file());
        let declared = vec!["anthropic_api_key".to_owned()];
        for plugin in ["model", "agent", "core"] {
            assert!(credentials_dir_from(&home, plugin, &declared, None).is_err());
            assert!(credentials_dir_from(&home, plugin, &declared, Some(&systemd)).is_err());
            assert!(materialize(&home, plugin, &declared, &systemd).is_err());
            assert_eq!(
                missing_from(&home, plugin, &declared, Some(&systemd)),
                declared
            );
        }
        assert!(!home.run_dir().join("credentials/model").exists());
        assert!(set(&home, "agent", "token", b"v").is_err());
    }

    #[test]
    fn set_then_status_never_holds_the_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().to_path_buf());
        let path = set(&home, "mail", "token", b"hunter2").expect("set");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        check_store(&home).expect("store is tight");
        let listed = status(
            &home,
            &[("mail".into(), vec!["token".into(), "other".into()])],
            &[],
        );
        let text = serde_json::to_string(&listed).expect("json");
        assert!(!text.contains("hunter2"));
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().any(|s| s.name == "other" && !s.present));
        assert_eq!(
            missing_from(&home, "mail", &["token".into(), "other".into()], None),
            vec!["other".to_owned()]
        );
        assert!(remove(&home, "mail", "token").expect("rm"));
        assert!(!remove(&home, "mail", "token").expect("rm again"));
    }
}
