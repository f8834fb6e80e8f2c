//! Finding plugin folders: config dirs, the home's `plugins/`, and the bundled ones.
//!
//! A name found twice is an error naming both folders; no folder silently
//! shadows another. Everything the core takes from a folder (manifest,
//! skills) is read here, once, beneath the folder and never through a link
//! (`folder.rs`). One bad folder never stops the others: a folder name that
//! breaks the name rule or is reserved, a manifest that is a link, too large or
//! invalid, skills that cannot be read, or a skill whose directory another
//! plugin's skill already takes, each leaves that plugin refused (never
//! started, shown failed with its problem) and the rest load.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::folder::FolderDir;
use super::manifest::{self, HandlerCommand, Manifest, Provides};
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
    /// Reads the plugin folder `folder` named `name`: its manifest and its
    /// skills. What the core will not read refuses the plugin (see
    /// [`Discovered::refused`]); no folder's content is an error.
    pub fn load(name: String, folder: PathBuf) -> Result<Discovered, DiscoveryError> {
        Ok(Discovered::read(name, folder))
    }

    fn read(name: String, folder: PathBuf) -> Discovered {
        let dir = match FolderDir::open(&folder) {
            Ok(dir) => dir,
            Err(problem) => return Discovered::refuse(name, folder, problem.to_string()),
        };
        let (manifest, bytes) = match Manifest::read(&dir) {
            Ok(read) => read,
            Err(problem) => return Discovered::refuse(name, folder, problem.to_string()),
        };
        let manifest_digest = hex::encode(Sha256::digest(&bytes));
        let (skills, refused) = match crate::skills::read(&name, &dir) {
            Ok(skills) => (skills.into(), None),
            Err(problem) => {
                tracing::error!(plugin = %name, %problem, "plugin refused: its folder holds a file the core will not read");
                (Arc::from(Vec::new()), Some(problem.to_string()))
            }
        };
        Discovered {
            name,
            folder,
            manifest,
            manifest_digest,
            skills,
            refused,
        }
    }

    /// A plugin refused before its manifest was read: an empty manifest (no
    /// tools, no credentials, no handler) and `problem`.
    fn refuse(name: String, folder: PathBuf, problem: String) -> Discovered {
        tracing::error!(plugin = %name, %problem, "plugin refused");
        Discovered {
            name,
            folder,
            manifest: Manifest {
                description: String::new(),
                version: String::new(),
                app_compat: None,
                provides: Provides::default(),
                subscribes: Vec::new(),
                network: false,
                config_schema: None,
                credentials: Vec::new(),
                optional_credentials: Vec::new(),
                capabilities: Vec::new(),
                handler: HandlerCommand::WithArgs(Vec::new()),
            },
            manifest_digest: String::new(),
            skills: Arc::from(Vec::new()),
            refused: Some(problem),
        }
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

/// Finds every plugin folder (one holding `manifest.json`) in `dirs`; a
/// plugin the core will not load is among them, refused. Only a name found
/// in two folders stops discovery.
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
            let folder_name = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !valid_plugin_name(&folder_name) {
                // Shown under its folder name, escaped and cut (then marked, so that
                // it can never read as a valid name); never made a path or an id.
                let mut shown: String = folder_name.escape_debug().collect();
                if shown.chars().count() > 64 {
                    shown = shown.chars().take(63).chain(['…']).collect();
                }
                let problem = format!(
                    "{}: a plugin folder name must match [a-z][a-z0-9_-]{{0,63}}; rename the folder",
                    folder.display()
                );
                found
                    .entry(shown.clone())
                    .or_insert_with(|| Discovered::refuse(shown, folder, problem));
                continue;
            }
            let name = folder_name;
            if let Some(existing) = found.get(&name) {
                return Err(DiscoveryError::Clash {
                    name,
                    first: existing.folder.display().to_string(),
                    second: folder.display().to_string(),
                });
            }
            let plugin = match super::reserved::refusal(&name, &folder) {
                Some(problem) => Discovered::refuse(name.clone(), folder, problem),
                None => Discovered::read(name.clone(), folder),
            };
            found.insert(name, plugin);
        }
    }
    let mut plugins: Vec<Discovered> = found.into_values().collect();
    refuse_skill_clashes(&mut plugins);
    Ok(plugins)
}

/// Refuses each plugin one of whose skills would be assembled into the
/// directory of the core's skill or of a skill of a plugin before it (by name:
/// of `mail` and `mail-read`, whose `<plugin>-<skill>` can meet, the longer
/// name is refused). A skill is never overwritten.
fn refuse_skill_clashes(plugins: &mut [Discovered]) {
    let mut taken: HashMap<String, String> =
        HashMap::from([(crate::skills::CORE_SKILL.to_owned(), "the core".to_owned())]);
    for plugin in plugins.iter_mut().filter(|p| p.refused.is_none()) {
        let file = |stem: &str| plugin.folder.join("skills").join(format!("{stem}.md"));
        let clash = plugin.skills.iter().find_map(|skill| {
            let dir = crate::skills::dir_name(&plugin.name, &skill.stem);
            let owner = taken.get(&dir)?;
            Some(format!(
                "{} would be the skill `{dir}`, which {owner} already is; \
                 rename one of the two skill files",
                file(&skill.stem).display()
            ))
        });
        if let Some(problem) = clash {
            tracing::error!(plugin = %plugin.name, %problem, "plugin refused: a skill directory clash");
            plugin.refused = Some(problem);
            plugin.skills = Arc::from(Vec::new());
            continue;
        }
        for skill in plugin.skills.iter() {
            taken.insert(
                crate::skills::dir_name(&plugin.name, &skill.stem),
                format!("plugin `{}`'s {}", plugin.name, file(&skill.stem).display()),
            );
        }
    }
}

/// The plugins shipped with Carapace: `$CARAPACE_BUNDLED_PLUGINS`, else
/// `<bin>/../share/carapace/plugins`, else the source tree's `plugins/` (development
/// builds only: [`crate::source_tree`]).
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
        crate::source_tree::root()
            .map(|root| root.join("plugins"))
            .filter(|d| d.is_dir())
    })
}

/// The tools of the discovered plugins, for the catalog (a refused plugin has
/// none); an intrinsic name is refused.
pub fn tool_specs(plugins: &[Discovered]) -> Result<Vec<ToolSpec>, DiscoveryError> {
    let mut specs = Vec::new();
    for plugin in plugins.iter().filter(|p| p.refused.is_none()) {
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
                reply_argument: tool.reply_argument.clone(),
                read_only: tool.read_only,
                owner: ToolOwner::Plugin(plugin.name.clone()),
            });
        }
    }
    Ok(specs)
}
