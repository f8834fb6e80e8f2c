//! The Telegram plugin's handler: the library's [`TelegramHandler`] on the SDK's main loop.

use std::process::ExitCode;

use carapace_plugin_telegram::TelegramHandler;

fn main() -> ExitCode {
    carapace_plugin_sdk::run(TelegramHandler::new())
}
