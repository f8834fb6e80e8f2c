//! Finding plugin folders: config dirs, the home's `plugins/`, and the bundled ones.
//!
//! A name found twice is an error naming both folders; no folder silently
//! shadows another. Everything the core takes from a folder (manifest,
//! skills) is read here, once, beneath the folder and never through a link
//! (`folder.rs`): a manifest that cannot be read so stops startup like an
//! invalid one; skills that cannot leave the plugin refused, shown as failed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::folder::FolderDir;
use super::manifest::{self, Manifest};
use super::valid_plugin_name;
use crate::paths::Home;
use crate::skills::Skill;
use crate::tools::{intrinsic, ToolOwner, ToolSpec};

/// A discovered plugin folder.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The folder name, which is the plugin's name.
    pub name: String,
    /// The folder.
    pub folder: PathBuf,
    /// Its parsed manifest.
    pub manifest: Manifest,
    /// SHA-256 (hex) of the manifest bytes read.
    pub manifest_digest: String,
    /// Its skills, read at discovery (empty when refused).
    pub skills: Arc<[Skill]>,
    /// Why the plugin is refused (it is then never started), naming the file.
    pub refused: Option<String>,
}

impl Discovered {
    /// Reads the plugin folder `folder` named `name`: its manifest (an error
    /// stops discovery) and its skills (an error refuses the plugin).
    pub fn load(name: String, folder: PathBuf) -> Result<Discovered, DiscoveryError> {
        let invalid =
            |e: &dyn std::fmt::Display| DiscoveryError::Invalid(format!("plugin `{name}`: {e}"));
        let dir = FolderDir::open(&folder).map_err(|e| invalid(&e))?;
        let (manifest, bytes) = Manifest::read(&dir).map_err(|e| invalid(&e))?;
        let manifest_digest = hex::encode(Sha256::digest(&bytes));
        let (skills, refused) = match crate::skills::read(&name, &dir) {
            Ok(skills) => (skills.into(), None),
            Err(problem) => {
                tracing::error!(plugin = %name, %problem, "plugin refused: its folder holds a file the core will not read");
                (Arc::from(Vec::new()), Some(problem.to_string()))
            }
        };
        Ok(Discovered {
            name,
            folder,
            manifest,
            manifest_digest,
            skills,
            refused,
        })
    }
}

/// Why discovery stopped startup.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Two folders with the same plugin name.
    #[error("plugin `{name}` is found twice: {first} and {second}")]
    Clash {
        /// The plugin name.
        name: String,
        /// The first folder.
        first: String,
        /// The second folder.
        second: String,
    },
    /// A bad folder name or manifest.
    #[error("{0}")]
    Invalid(String),
}

/// The plugin directories searched, in order: config dirs, the home's, the bundled ones.
pub fn search_dirs(home: &Home, configured: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = configured.to_vec();
    dirs.push(home.plugins_dir());
    if let Some(bundled) = bundled_dir() {
        dirs.push(bundled);
    }
    dirs
}

/// Finds every plugin folder (one holding `manifest.json`) in `dirs`.
pub fn discover(dirs: &[PathBuf]) -> Result<Vec<Discovered>, DiscoveryError> {
    let mut found: BTreeMap<String, Discovered> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        // A folder holding a `manifest.json` entry of any kind (a link is then refused).
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| std::fs::symlink_metadata(p.join(manifest::FILE)).is_ok())
            .collect();
        folders.sort();
        for folder in folders {
            let name = folder
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if !valid_plugin_name(&name) {
                return Err(DiscoveryError::Invalid(format!(
                    "{}: a plugin folder name must match [a-z][a-z0-9_-]{{0,63}}",
                    folder.display()
                )));
            }
            if let Some(refusal) = super::reserved::refusal(&name, &folder) {
                return Err(DiscoveryError::Invalid(refusal));
            }
            if let Some(existing) = found.get(&name) {
                return Err(DiscoveryError::Clash {
                    name,
                    first: existing.folder.display().to_string(),
                    second: folder.display().to_string(),
                });
            }
            let plugin = Discovered::load(name.clone(), folder)?;
            found.insert(name, plugin);
        }
    }
    Ok(found.into_values().collect())
}

/// The plugins shipped with Carapace: `$CARAPACE_BUNDLED_PLUGINS`, else
/// `<bin>/../share/carapace/plugins`, else the source tree's `plugins/` (development).
pub fn bundled_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARAPACE_BUNDLED_PLUGINS") {
        return Some(PathBuf::from(dir)).filter(|d| !d.as_os_str().is_empty());
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()?
                .parent()
                .map(|p| p.join("share/carapace/plugins"))
        })
        .filter(|d| d.is_dir());
    installed.or_else(|| {
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/plugins"
        )))
        .filter(|d| d.is_dir())
    })
}

/// The tools of the discovered plugins, for the catalog; an intrinsic name is refused.
pub fn tool_specs(plugins: &[Discovered]) -> Result<Vec<ToolSpec>, DiscoveryError> {
    let mut specs = Vec::new();
    for plugin in plugins {
        for tool in &plugin.manifest.provides.tools {
            if intrinsic::NAMES.contains(&tool.name.as_str()) {
                return Err(DiscoveryError::Invalid(format!(
                    "tool `{}` is declared by both core (intrinsic) and plugin:{}",
                    tool.name, plugin.name
                )));
            }
            specs.push(ToolSpec {
                name: tool.name.clone(),
                description: tool.description.clone(),
                risk_level: tool.risk_level,
                arguments_schema: tool.arguments_schema.clone(),
                owner: ToolOwner::Plugin(plugin.name.clone()),
            });
        }
    }
    Ok(specs)
}
