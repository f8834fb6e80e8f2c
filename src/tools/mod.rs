//! The tool catalog: every tool the agent can call, its schema compiled once, and its owner.
//!
//! The catalog refuses a tool whose schema lets unknown properties through at
//! any object level, and a tool name that two owners claim.

pub mod intrinsic;
pub mod schema_rules;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How dangerous a tool is; `high` waits for the user's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Runs at once.
    #[default]
    Low,
    /// Runs at once; shown as such to the user.
    Medium,
    /// Waits for `carapace confirm approve`.
    High,
}

/// Who answers a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolOwner {
    /// Answered inside the core.
    Intrinsic,
    /// Answered by the named plugin's handler process.
    Plugin(String),
}

impl ToolOwner {
    /// The owner as shown to users and in envelopes: `core` or `plugin:<name>`.
    pub fn label(&self) -> String {
        match self {
            ToolOwner::Intrinsic => "core".into(),
            ToolOwner::Plugin(name) => format!("plugin:{name}"),
        }
    }
}

/// A tool as declared, before its schema is compiled.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    /// Globally unique name, `[a-z][a-z0-9_]{0,63}`.
    pub name: String,
    /// What the tool does, for the agent.
    pub description: String,
    /// Whether the call needs the user's approval.
    pub risk_level: RiskLevel,
    /// JSON Schema of the arguments object.
    pub arguments_schema: Value,
    /// The argument that, when it names the session's own chat, makes a call
    /// of the owning channel plugin a reply needing no approval.
    pub reply_argument: Option<String>,
    /// Declared by its plugin to only read: a timeout in the plugin stays retriable.
    pub read_only: bool,
    /// Who answers it.
    pub owner: ToolOwner,
}

/// A tool ready for the pipeline: its schema compiled.
pub struct Tool {
    /// The declaration.
    pub spec: ToolSpec,
    /// The compiled argument schema.
    pub validator: jsonschema::Validator,
}

/// Why a tool could not enter the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Two owners declare the same tool name.
    #[error("tool `{name}` is declared by both {first} and {second}")]
    Duplicate {
        /// The tool name.
        name: String,
        /// The owner loaded first.
        first: String,
        /// The owner loaded second.
        second: String,
    },
    /// The name breaks `[a-z][a-z0-9_]{0,63}`.
    #[error("{owner}: tool name `{name}` must match [a-z][a-z0-9_]{{0,63}}")]
    BadName {
        /// The tool name.
        name: String,
        /// Its owner.
        owner: String,
    },
    /// The schema breaks a rule or does not compile.
    #[error("{owner}: tool `{name}`: {problem}")]
    BadSchema {
        /// The tool name.
        name: String,
        /// Its owner.
        owner: String,
        /// What is wrong.
        problem: String,
    },
}

/// All tools by name. Built once; shared read-only.
#[derive(Default)]
pub struct Catalog {
    tools: HashMap<String, Arc<Tool>>,
}

/// Tool names match `[a-z][a-z0-9_]{0,63}`.
pub fn valid_tool_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

impl Catalog {
    /// Builds the catalog, refusing bad names, loose schemas and duplicates.
    pub fn build(specs: Vec<ToolSpec>) -> Result<Catalog, CatalogError> {
        let mut tools: HashMap<String, Arc<Tool>> = HashMap::new();
        for spec in specs {
            let owner = spec.owner.label();
            if !valid_tool_name(&spec.name) {
                return Err(CatalogError::BadName {
                    name: spec.name,
                    owner,
                });
            }
            if let Some(existing) = tools.get(&spec.name) {
                return Err(CatalogError::Duplicate {
                    name: spec.name,
                    first: existing.spec.owner.label(),
                    second: owner,
                });
            }
            let bad = |problem: String| CatalogError::BadSchema {
                name: spec.name.clone(),
                owner: owner.clone(),
                problem,
            };
            schema_rules::check_closed(&spec.arguments_schema).map_err(bad)?;
            let validator = schema_rules::compile(&spec.arguments_schema).map_err(bad)?;
            tools.insert(spec.name.clone(), Arc::new(Tool { spec, validator }));
        }
        Ok(Catalog { tools })
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Tool>> {
        self.tools.get(name)
    }

    /// Every tool, sorted by name.
    pub fn all(&self) -> Vec<&Arc<Tool>> {
        let mut tools: Vec<_> = self.tools.values().collect();
        tools.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        tools
    }
}
