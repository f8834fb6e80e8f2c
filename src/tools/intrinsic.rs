//! The declarations of the tools the core answers itself: `list_tools`,
//! `get_session_info`, `get_diagnostics` (their handlers are
//! `pipeline::intrinsic`, beside routing). Catalog data: must never depend on
//! the core.

use serde_json::{json, Value};

use super::{RiskLevel, ToolOwner, ToolSpec};

/// Names of the intrinsic tools; no plugin may use them.
pub const NAMES: [&str; 3] = ["list_tools", "get_session_info", "get_diagnostics"];

/// Most entries `get_diagnostics` returns.
pub const MAX_DIAGNOSTICS: u64 = 50;

/// The intrinsic tools' declarations.
pub fn specs() -> Vec<ToolSpec> {
    let spec = |name: &str, description: &str, schema: Value| ToolSpec {
        name: name.into(),
        description: description.into(),
        risk_level: RiskLevel::Low,
        arguments_schema: schema,
        reply_argument: None,
        read_only: true,
        owner: ToolOwner::Intrinsic,
    };
    vec![
        spec(
            "list_tools",
            "List the tools this session may call, with descriptions and risk levels.",
            json!({"type": "object", "additionalProperties": false, "properties": {}}),
        ),
        spec(
            "get_session_info",
            "Show this session's group, start time and the health of each plugin.",
            json!({"type": "object", "additionalProperties": false, "properties": {}}),
        ),
        spec(
            "get_diagnostics",
            "Explain what happened to this session's calls: the trail of one correlation, or the last errors.",
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "correlation": {"type": "string", "maxLength": 128},
                    "last_errors": {"type": "integer", "minimum": 1, "maximum": MAX_DIAGNOSTICS}
                }
            }),
        ),
    ]
}
