//! `manifest.json`: what a plugin declares about itself.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::folder::{FolderDir, FolderError};
use crate::tools::RiskLevel;

/// The manifest's file name in a plugin folder.
pub const FILE: &str = "manifest.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_schema_refuses_unknown_fields_and_bad_names() {
        let ok = br#"{"description":"d","version":"1.0.0","handler":"h",
            "provides":{"tools":[{"name":"t","description":"x","arguments_schema":{"type":"object","additionalProperties":false}}]}}"#;
        assert!(Manifest::parse(ok, "m").is_ok());
        let extra = br#"{"description":"d","version":"1.0.0","handler":"h","homepage":"x"}"#;
        assert!(Manifest::parse(extra, "m").is_err());
        let bad_name = br#"{"description":"d","version":"1.0.0","handler":"h",
            "provides":{"tools":[{"name":"Bad-Name","description":"x","arguments_schema":{}}]}}"#;
        let err = Manifest::parse(bad_name, "m")
            .expect_err("bad tool name")
            .to_string();
        assert!(err.contains("/provides/tools/0/name"), "{err}");
        let dots = br#"{"description":"d","version":"1.0.0","handler":"h","credentials":[".."]}"#;
        assert!(Manifest::parse(dots, "m").is_err());
        let both = br#"{"description":"d","version":"1.0.0","handler":"h","credentials":["a"],"optional_credentials":["b","a"]}"#;
        let err = Manifest::parse(both, "m").expect_err("in both").to_string();
        assert!(err.contains("`a` is in both"), "{err}");
        let optional = br#"{"description":"d","version":"1.0.0","handler":"h","credentials":["a"],"optional_credentials":["b"]}"#;
        let parsed = Manifest::parse(optional, "m").expect("optional ones");
        assert_eq!(parsed.all_credentials(), ["a", "b"]);
        let dots =
            br#"{"description":"d","version":"1.0.0","handler":"h","optional_credentials":[".."]}"#;
        assert!(Manifest::parse(dots, "m").is_err());
        let huge = vec![b' '; (MAX_MANIFEST_BYTES + 1) as usize];
        assert!(matches!(
            Manifest::parse(&huge, "m"),
            Err(ManifestError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_reply_argument_must_be_a_required_argument() {
        let with = |schema: &str| {
            let text = format!(
                r#"{{"description":"d","version":"1.0.0","handler":"h","provides":{{"tools":[
                {{"name":"t","description":"x","risk_level":"high","reply_argument":"chat",
                  "arguments_schema":{schema}}}]}}}}"#
            );
            Manifest::parse(text.as_bytes(), "m")
        };
        let required = r#"{"type":"object","additionalProperties":false,"required":["chat"],
                           "properties":{"chat":{"type":"string"}}}"#;
        assert!(with(required).is_err(), "no text argument");
        let optional = r#"{"type":"object","additionalProperties":false,
                           "properties":{"chat":{"type":"string"}}}"#;
        let err = with(optional).expect_err("optional").to_string();
        assert!(err.contains("reply_argument `chat`"), "{err}");
        assert!(with(r#"{"type":"object","additionalProperties":false}"#).is_err());
        let with_text = r#"{"type":"object","additionalProperties":false,"required":["chat","text"],
                            "properties":{"chat":{"type":"string"},"text":{"type":"string"}}}"#;
        assert!(with(with_text).is_ok());
        let with_bcc = r#"{"type":"object","additionalProperties":false,"required":["chat","text"],
                           "properties":{"chat":{"type":"string"},"text":{"type":"string"},"bcc":{"type":"string"}}}"#;
        let err = with(with_bcc).expect_err("a third argument").to_string();
        assert!(err.contains("one other argument"), "{err}");
    }

    #[test]
    fn capabilities_are_read_and_an_unknown_one_is_refused_by_name() {
        let manifest = Manifest::parse(
            br#"{"description":"d","version":"1.0.0","handler":"h",
                 "capabilities":["approvals","kill_switch","budgets","scheduler"]}"#,
            "m",
        )
        .expect("valid");
        assert_eq!(manifest.capabilities, Capability::ALL.to_vec());
        let none = Manifest::parse(
            br#"{"description":"d","version":"1.0.0","handler":"h"}"#,
            "m",
        )
        .expect("valid");
        assert!(none.capabilities.is_empty());
        for (bad, named) in [
            (r#"["approvals","root"]"#, "`root`"),
            (r#"["Approvals"]"#, "`Approvals`"),
            (r#"[7]"#, "`7`"),
            (r#"["kill\u001bswitch"]"#, r"`kill\u001bswitch`"),
        ] {
            let text = format!(
                r#"{{"description":"d","version":"1.0.0","handler":"h","capabilities":{bad}}}"#
            );
            let err = Manifest::parse(text.as_bytes(), "m")
                .expect_err(bad)
                .to_string();
            assert!(
                err.contains(&format!("unknown capability {named}")),
                "{err}"
            );
        }
        let twice = br#"{"description":"d","version":"1.0.0","handler":"h","capabilities":["approvals","approvals"]}"#;
        assert!(Manifest::parse(twice, "m").is_err());
    }

    #[test]
    fn app_compat_is_a_semver_range() {
        let mut manifest = Manifest::parse(
            br#"{"description":"d","version":"1.0.0","handler":"h"}"#,
            "m",
        )
        .expect("valid");
        assert!(manifest.check_compat("0.1.0").is_ok());
        manifest.app_compat = Some(">=0.1.0, <0.2.0".into());
        assert!(manifest.check_compat("0.1.5").is_ok());
        assert!(manifest.check_compat("0.2.0").is_err());
        manifest.app_compat = Some("not a range".into());
        assert!(manifest.check_compat("0.1.0").is_err());
    }
}

/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 10;

/// A plugin's manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What the plugin does.
    pub description: String,
    /// The plugin's own version.
    pub version: String,
    /// Semver range of Carapace versions it works with.
    #[serde(default)]
    pub app_compat: Option<String>,
    /// Tools, channels and hooks it provides.
    #[serde(default)]
    pub provides: Provides,
    /// Event topic prefixes it receives.
    #[serde(default)]
    pub subscribes: Vec<String>,
    /// Whether it may open network connections.
    #[serde(default)]
    pub network: bool,
    /// JSON Schema of its `[plugins.<name>]` config.
    #[serde(default)]
    pub config_schema: Option<Value>,
    /// Names of the secrets it needs: a missing one disables it (`AUTH_ERROR`).
    #[serde(default)]
    pub credentials: Vec<String>,
    /// Names of secrets it may use when present (e.g. one per sign-in mode,
    /// which the plugin itself requires as its config says).
    #[serde(default)]
    pub optional_credentials: Vec<String>,
    /// What it may ask of the core beyond `services/*` (DESIGN §8).
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// The command to run: relative to the plugin folder, or on PATH.
    pub handler: HandlerCommand,
}

/// A power over the core a plugin declares in its manifest, each a plugin ->
/// core request on its own JSON-RPC channel (never reachable from a session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// `confirm/resolve`: decide pending confirmations of the groups it serves.
    Approvals,
    /// `group/pause`, `group/resume`, `group/status` for the groups it serves.
    KillSwitch,
    /// `budget/extend`: accepted in a manifest, not yet served.
    Budgets,
    /// `event/publish` of `task.*` (`task.triggered` starts a session of origin `task`
    /// with the trust the plugin reports) for the groups it serves.
    Scheduler,
}

impl Capability {
    /// Every capability, as a manifest names it.
    pub const ALL: [Capability; 4] = [
        Capability::Approvals,
        Capability::KillSwitch,
        Capability::Budgets,
        Capability::Scheduler,
    ];

    /// The name a manifest uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Approvals => "approvals",
            Capability::KillSwitch => "kill_switch",
            Capability::Budgets => "budgets",
            Capability::Scheduler => "scheduler",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first entry of `capabilities` that names no capability, as it may be shown.
fn unknown_capability(value: &Value) -> Option<String> {
    let listed = value.get("capabilities")?.as_array()?;
    listed.iter().find_map(|entry| {
        let known = entry
            .as_str()
            .is_some_and(|name| Capability::ALL.iter().any(|c| c.as_str() == name));
        (!known).then(|| match entry.as_str() {
            Some(name) => crate::display::escape_str(&name.chars().take(64).collect::<String>()),
            None => crate::display::escape_json(entry)
                .chars()
                .take(64)
                .collect(),
        })
    })
}

/// The handler command: a program, or a program and its arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HandlerCommand {
    /// Just the program.
    Program(String),
    /// Program then arguments.
    WithArgs(Vec<String>),
}

/// What a plugin provides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provides {
    /// Its tools.
    #[serde(default)]
    pub tools: Vec<ManifestTool>,
    /// Channels it serves (e.g. `telegram`).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Hooks it answers (e.g. `memory_brief`).
    #[serde(default)]
    pub hooks: Vec<String>,
}

/// One tool in a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestTool {
    /// Globally unique tool name.
    pub name: String,
    /// What it does, for the agent.
    pub description: String,
    /// `low`, `medium` or `high`.
    #[serde(default)]
    pub risk_level: RiskLevel,
    /// JSON Schema of its arguments (closed objects only).
    pub arguments_schema: Value,
    /// For a high-risk tool of a channel: the argument naming a chat. A call
    /// whose value is the chat the session's message came from through this
    /// same plugin is a reply and needs no approval.
    #[serde(default)]
    pub reply_argument: Option<String>,
    /// The tool only reads: running it twice does nothing once would not, so
    /// a call that timed out in the plugin may be retried. Default `false`.
    #[serde(default)]
    pub read_only: bool,
    /// Sample arguments, for `carapace plugin test`.
    #[serde(default)]
    pub examples: Vec<Value>,
}

/// The manifest's own JSON Schema, compiled once.
fn manifest_schema() -> Result<&'static jsonschema::Validator, &'static String> {
    static SCHEMA: std::sync::OnceLock<Result<jsonschema::Validator, String>> =
        std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let schema: Value =
                serde_json::from_str(include_str!("../../docs/manifest.schema.json"))
                    .map_err(|e| format!("the manifest schema is not JSON: {e}"))?;
            crate::tools::schema_rules::compile(&schema)
        })
        .as_ref()
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Unreadable.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The manifest path.
        path: String,
        /// What failed.
        message: String,
    },
    /// A link, or not a plain file: never followed or read.
    #[error(transparent)]
    Refused(super::folder::FolderError),
    /// Over the size limit.
    #[error("{path} is over {MAX_MANIFEST_BYTES} bytes")]
    TooLarge {
        /// The manifest path.
        path: String,
    },
    /// Not a valid manifest.
    #[error("{path}: {message}")]
    Invalid {
        /// The manifest path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Manifest {
    /// Reads and parses `dir/manifest.json` (never through a link).
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let folder = FolderDir::open(dir).map_err(ManifestError::Refused)?;
        Manifest::read(&folder).map(|(manifest, _)| manifest)
    }

    /// Reads `manifest.json` of an open plugin folder, without following a
    /// link and within [`MAX_MANIFEST_BYTES`]; returns it and the bytes read.
    pub fn read(folder: &FolderDir) -> Result<(Manifest, Vec<u8>), ManifestError> {
        let shown = folder.path().join("manifest.json").display().to_string();
        let text = match folder.read(FILE, MAX_MANIFEST_BYTES) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(ManifestError::Read {
                    path: shown,
                    message: "no such file".into(),
                })
            }
            Err(FolderError::TooLarge { .. }) => {
                return Err(ManifestError::TooLarge { path: shown })
            }
            Err(e) => return Err(ManifestError::Refused(e)),
        };
        let manifest = Manifest::parse(&text, &shown)?;
        Ok((manifest, text))
    }

    /// Every credential it may be handed: the required ones, then the optional ones.
    pub fn all_credentials(&self) -> Vec<String> {
        self.credentials
            .iter()
            .chain(&self.optional_credentials)
            .cloned()
            .collect()
    }

    /// Parses manifest bytes against `docs/manifest.schema.json`; `shown` names the file in errors.
    pub fn parse(text: &[u8], shown: &str) -> Result<Manifest, ManifestError> {
        let invalid = |message: String| ManifestError::Invalid {
            path: shown.into(),
            message,
        };
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { path: shown.into() });
        }
        let value: Value = serde_json::from_slice(text).map_err(|e| {
            invalid(format!(
                "not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(name) = unknown_capability(&value) {
            let known: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
            return Err(invalid(format!(
                "unknown capability `{name}` in `capabilities` (known: {})",
                known.join(", ")
            )));
        }
        let schema = manifest_schema().map_err(|e| invalid(e.clone()))?;
        if let Err(error) = schema.validate(&value) {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            let message: String = format!("at `{at}`: {error}").chars().take(300).collect();
            return Err(invalid(message));
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        if let Some(both) = manifest
            .optional_credentials
            .iter()
            .find(|name| manifest.credentials.contains(name))
        {
            return Err(invalid(format!(
                "credential `{both}` is in both `credentials` and `optional_credentials`"
            )));
        }
        for tool in &manifest.provides.tools {
            if let Some(argument) = &tool.reply_argument {
                let declared = tool
                    .arguments_schema
                    .pointer(&format!("/properties/{argument}"))
                    .is_some();
                let required = tool
                    .arguments_schema
                    .get("required")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.iter().any(|n| n == argument.as_str()));
                if !declared || !required {
                    return Err(invalid(format!(
                        "tool `{}`: reply_argument `{argument}` must be a required property of its arguments_schema",
                        tool.name
                    )));
                }
                // The exemption approves the whole call by one argument, so the
                // call may hold nothing else that could reach anyone: the chat
                // and one string (the text), no cc, no attachment.
                let properties = tool
                    .arguments_schema
                    .get("properties")
                    .and_then(Value::as_object);
                let other_is_text = properties.is_some_and(|p| {
                    p.len() == 2
                        && p.iter().any(|(name, schema)| {
                            name != argument && schema.get("type") == Some(&Value::from("string"))
                        })
                });
                if !other_is_text {
                    return Err(invalid(format!(
                        "tool `{}`: a tool with reply_argument may have one other argument, a string (the text)",
                        tool.name
                    )));
                }
            }
        }
        Ok(manifest)
    }

    /// Checks `app_compat` (a semver range) against the running Carapace version.
    pub fn check_compat(&self, running: &str) -> Result<(), String> {
        let Some(range) = &self.app_compat else {
            return Ok(());
        };
        let required = semver::VersionReq::parse(range)
            .map_err(|e| format!("app_compat `{range}` is not a semver range: {e}"))?;
        let version = semver::Version::parse(running).map_err(|e| e.to_string())?;
        if required.matches(&version) {
            Ok(())
        } else {
            Err(format!("needs Carapace {range}; this is {running}"))
        }
    }
}
