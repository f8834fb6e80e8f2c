//! The email plugin's handler: the library's [`EmailHandler`] on the SDK's main loop.

use std::process::ExitCode;

use carapace_plugin_email::EmailHandler;

fn main() -> ExitCode {
    carapace_plugin_sdk::run(EmailHandler::new())
}
