//! `carapace config show|get|set`: reading the effective settings and editing the file in place.
//!
//! `set` edits with `toml_edit`, so comments and order survive, and refuses any
//! change that would make the file invalid.

use std::path::Path;

use super::{Config, ConfigError};

/// Why a `config get` or `config set` failed.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The existing file is invalid or unreadable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The key does not name a setting.
    #[error("no setting `{0}`")]
    NoSuchKey(String),
    /// The key is malformed.
    #[error("bad key `{0}`: use dotted names like core.log_level")]
    BadKey(String),
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The config file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The effective configuration (file merged over defaults) as TOML text.
pub fn show(path: &Path) -> Result<String, EditError> {
    let config = Config::load(path)?;
    Ok(toml::to_string(&config).unwrap_or_default())
}

/// One effective value, as TOML (strings quoted, tables as tables).
pub fn get(path: &Path, key: &str) -> Result<toml::Value, EditError> {
    let config = Config::load(path)?;
    let mut value = toml::Value::try_from(&config).map_err(|_| EditError::NoSuchKey(key.into()))?;
    for part in split_key(key)? {
        value = match value {
            toml::Value::Table(mut table) => table
                .remove(part)
                .ok_or_else(|| EditError::NoSuchKey(key.into()))?,
            _ => return Err(EditError::NoSuchKey(key.into())),
        };
    }
    Ok(value)
}

/// Sets `key` to `raw` (a TOML literal such as `30`, `true`, `["*"]`, or a bare string).
pub fn set(path: &Path, key: &str, raw: &str) -> Result<(), EditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            }
            .into())
        }
    };
    Config::parse(&text, path)?;
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Invalid {
                path: path.into(),
                message: e.message().to_owned(),
            })?;
    let parts = split_key(key)?;
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| EditError::BadKey(key.into()))?;
    let mut table = doc.as_table_mut();
    for part in parents {
        let entry = table
            .entry(part)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        table = match entry {
            toml_edit::Item::Table(t) => t,
            _ => return Err(EditError::NoSuchKey(key.into())),
        };
    }
    let mut new_value = parse_literal(raw);
    match table.get_mut(last).and_then(toml_edit::Item::as_value_mut) {
        // Keep the key's comments and the value's trailing comment.
        Some(old) => {
            *new_value.decor_mut() = old.decor().clone();
            *old = new_value;
        }
        None => {
            table.insert(last, toml_edit::value(new_value));
        }
    }
    let new_text = doc.to_string();
    Config::parse(&new_text, path)?;
    write_private(path, &new_text)
}

fn parse_literal(raw: &str) -> toml_edit::Value {
    raw.parse::<toml_edit::Value>()
        .unwrap_or_else(|_| toml_edit::Value::from(raw))
}

fn split_key(key: &str) -> Result<Vec<&str>, EditError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(EditError::BadKey(key.into()));
    }
    Ok(parts)
}

/// Writes `text` to `path` through a temporary file and a rename, mode 0600.
fn write_private(path: &Path, text: &str) -> Result<(), EditError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| EditError::Write {
        path: path.into(),
        source,
    };
    let tmp = path.with_extension("toml.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_comments_and_order_and_get_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "# mine\n[core]\n# deadline\ntool_deadline_secs = 5\n",
        )
        .expect("write");
        set(&path, "core.tool_deadline_secs", "9").expect("set");
        set(&path, "groups.main.tools", r#"["list_*"]"#).expect("set table");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("# mine\n[core]\n# deadline\ntool_deadline_secs = 9"),
            "{text}"
        );
        assert_eq!(
            get(&path, "core.tool_deadline_secs")
                .expect("get")
                .as_integer(),
            Some(9)
        );
        assert_eq!(
            get(&path, "core.log_level").expect("default").as_str(),
            Some("info")
        );
    }

    #[test]
    fn set_refuses_a_change_that_breaks_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[core]\n").expect("write");
        assert!(set(&path, "core.tool_deadline_secs", "soon").is_err());
        assert!(set(&path, "core.nope", "1").is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "[core]\n");
        assert!(matches!(
            get(&path, "core.nope"),
            Err(EditError::NoSuchKey(_))
        ));
        assert!(matches!(get(&path, "core..x"), Err(EditError::BadKey(_))));
    }
}
