//! The scheduler plugin's handler: the library's [`SchedulerHandler`] on the SDK's main loop.

use std::process::ExitCode;

use carapace_plugin_scheduler::SchedulerHandler;

fn main() -> ExitCode {
    carapace_plugin_sdk::run(SchedulerHandler::default())
}
