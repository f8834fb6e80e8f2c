//! `TelegramHandler`, the SDK plugin: sets up at `initialize` (config, token, data
//! dir; no network), starts its threads in `started` (delivery, typing, then the
//! polling loop on `started`'s own thread), queues every event for the delivery
//! thread, and answers the two tools.
//!
//! Must never block an SDK thread on Telegram for an event: events only queue.

use std::sync::Arc;
use std::time::Duration;

use carapace_plugin_sdk::{CallContext, CoreLink, Init, InitError, Level, Plugin, ToolError};
use serde_json::{json, Value};

use crate::state::{Job, Shared};
use crate::{approvals, deliver, poll, tools};

/// Longest `shutdown` waits for the update being handled (a `/stop` may take long).
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The Telegram plugin's handler.
#[derive(Default)]
pub struct TelegramHandler {
    shared: Option<Arc<Shared>>,
}

impl TelegramHandler {
    /// A handler waiting for `initialize`.
    pub fn new() -> TelegramHandler {
        TelegramHandler::default()
    }

    /// A handler already set up on `shared` (tests drive a stand-in transport this way).
    pub fn with_shared(shared: Shared) -> TelegramHandler {
        TelegramHandler {
            shared: Some(Arc::new(shared)),
        }
    }
}

impl Plugin for TelegramHandler {
    fn initialize(&mut self, init: &Init) -> Result<(), InitError> {
        if self.shared.is_none() {
            self.shared = Some(Arc::new(Shared::initialize(init)?));
        }
        Ok(())
    }

    fn started(&self, link: &CoreLink) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        shared.set_link(link);
        if !shared.config.is_set_up() {
            shared.log(
                Level::Info,
                "telegram.not_set_up: no chat is mapped under [plugins.telegram.config] chats; \
                 nothing is polled or sent (docs/telegram.md)",
            );
            return;
        }
        let worker = Arc::clone(shared);
        spawn("telegram-deliver", shared, move || deliver::run(worker));
        let typist = Arc::clone(shared);
        spawn("telegram-typing", shared, move || deliver::typing(typist));
        check_token(shared);
        approvals::reconcile(shared, link);
        poll::run(shared, link);
    }

    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        let shared = self
            .shared
            .as_ref()
            .ok_or_else(|| ToolError::new("the Telegram plugin is not initialized"))?;
        tools::call(shared, ctx, tool, arguments)
    }

    fn stopping(&self) {
        if let Some(shared) = &self.shared {
            shared.stop_polling(STOP_WAIT);
        }
    }

    fn event(&self, _: &CoreLink, envelope: Value) {
        if let Some(shared) = &self.shared {
            shared.queue(Job::Event(envelope));
        }
    }
}

/// Starts a named thread; says so if it cannot.
fn spawn(name: &str, shared: &Shared, work: impl FnOnce() + Send + 'static) {
    if std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .is_err()
    {
        shared.log(Level::Error, format!("telegram.no_thread name={name}"));
    }
}

/// `getMe`: logs which bot the token is (and keeps its username), or that Telegram
/// refused it.
fn check_token(shared: &Shared) {
    match shared.api.call("getMe", &json!({})) {
        Ok(me) => {
            let name = me
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect::<String>();
            shared.log(Level::Info, format!("telegram.ready bot=@{name}"));
            if !name.is_empty() {
                let _ = shared.bot_name.set(name);
            }
        }
        Err(error) => shared.log(
            Level::Error,
            format!("telegram.get_me_failed error={error} (is the bot_token right?)"),
        ),
    }
}
