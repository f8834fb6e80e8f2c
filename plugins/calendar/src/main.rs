//! The calendar plugin's handler: the library's [`CalendarHandler`] on the SDK's main loop.

use std::process::ExitCode;

use carapace_plugin_calendar::CalendarHandler;

fn main() -> ExitCode {
    carapace_plugin_sdk::run(CalendarHandler::default())
}
