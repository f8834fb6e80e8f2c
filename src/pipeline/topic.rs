//! Stage 2: the topic must name a tool in the catalog.

use std::sync::Arc;

use carapace_ipc::TOOL_TOPIC_PREFIX;

use crate::refusal::Refusal;

use super::envelope::Call;
use crate::tools::{Catalog, Tool};

/// A call whose topic names a known tool.
#[derive(Debug)]
pub struct Resolved {
    /// The call.
    pub call: Call,
    /// The tool it names.
    pub tool: Arc<Tool>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.spec.name)
            .finish()
    }
}

/// Stage 2: finds the tool a `tool.invoke.<name>` topic names.
pub fn resolve(catalog: &Catalog, call: Call) -> Result<Resolved, Refusal> {
    let tool = call
        .topic
        .strip_prefix(TOOL_TOPIC_PREFIX)
        .and_then(|name| catalog.get(name))
        .cloned();
    match tool {
        Some(tool) => Ok(Resolved { call, tool }),
        None => {
            let shown: String = call
                .topic
                .chars()
                .take(80)
                .filter(|c| !c.is_control())
                .collect();
            Err(Refusal::UnknownTool { shown })
        }
    }
}
