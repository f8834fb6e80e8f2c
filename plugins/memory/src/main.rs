//! The memory plugin's handler: the library's [`MemoryHandler`] on the SDK's main loop.

use std::process::ExitCode;

use carapace_plugin_memory::MemoryHandler;

fn main() -> ExitCode {
    carapace_plugin_sdk::run(MemoryHandler::default())
}
