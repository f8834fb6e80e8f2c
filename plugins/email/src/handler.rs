//! `EmailHandler`, the SDK plugin: sets up and logs in at `initialize`, polls INBOX
//! in `started` when configured, answers the tools, logs out at `shutdown`.

use std::sync::Arc;

use carapace_plugin_sdk::{CallContext, CoreLink, Init, InitError, Plugin, ToolError};
use serde_json::Value;

use crate::state::Shared;

/// The email plugin's handler.
#[derive(Default)]
pub struct EmailHandler {
    shared: Option<Arc<Shared>>,
}

impl EmailHandler {
    /// A handler waiting for `initialize`.
    pub fn new() -> EmailHandler {
        EmailHandler::default()
    }
}

impl Plugin for EmailHandler {
    fn initialize(&mut self, init: &Init) -> Result<(), InitError> {
        self.shared = Some(Arc::new(Shared::initialize(init)?));
        Ok(())
    }

    fn started(&self, link: &CoreLink) {
        if let Some(shared) = &self.shared {
            crate::poll::run(shared, link);
        }
    }

    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        let shared = self
            .shared
            .as_ref()
            .ok_or_else(|| ToolError::new("the email plugin is not initialized"))?;
        crate::tools::call(shared, ctx, tool, arguments)
    }

    fn stopping(&self) {
        if let Some(shared) = &self.shared {
            shared.stop();
        }
    }
}
