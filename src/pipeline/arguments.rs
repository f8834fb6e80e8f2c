//! Stage 3: the arguments must pass the tool's compiled JSON Schema.

use std::sync::Arc;

use crate::refusal::Refusal;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::envelope::Call;
use super::topic::Resolved;
use crate::tools::Tool;

/// A call whose arguments passed the schema.
#[derive(Debug)]
pub struct Validated {
    /// The call.
    pub call: Call,
    /// Its tool.
    pub tool: Arc<Tool>,
}

/// Longest validation message sent back.
const MAX_MESSAGE_CHARS: usize = 240;

/// Stage 3: validates the arguments; the error names the offending property.
pub fn validate(resolved: Resolved) -> Result<Validated, Refusal> {
    let Resolved { call, tool } = resolved;
    if let Err(error) = tool.validator.validate(&call.arguments) {
        let mut segments: Vec<String> = error
            .instance_path()
            .segments()
            .map(|s| s.to_string())
            .collect();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                if let Some(first) = unexpected.first() {
                    segments.push(first.clone());
                }
            }
            ValidationErrorKind::Required {
                property: Value::String(name),
            } => segments.push(name.clone()),
            _ => {}
        }
        let field = segments.join(".");
        let message: String = format!("argument `{field}`: {error}")
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .collect();
        return Err(Refusal::InvalidArgument { field, message });
    }
    Ok(Validated { call, tool })
}
