//! `carapace __confine <spec> -- <handler> <args>` (hidden): the launcher the core runs for
//! each plugin handler. It confines itself with Landlock, then becomes the handler.

use std::process::ExitCode;

use crate::plugins::confine::{exec_confined, ConfineSpec};

/// Exit status when the handler could not be started (as a shell's "command not found").
const LAUNCH_FAILED: u8 = 127;

/// Confines this process to `spec`, then execs `command`; returns only on failure.
pub fn run(spec: &str, command: &[String]) -> anyhow::Result<ExitCode> {
    let error = match ConfineSpec::from_arg(spec) {
        Ok(spec) => exec_confined(&spec, command),
        Err(error) => error,
    };
    eprintln!("carapace __confine: {error}");
    Ok(ExitCode::from(LAUNCH_FAILED))
}
