//! `carapace __confine <spec> -- <handler> <args>` (hidden): the launcher the core runs for
//! each plugin handler. It confines itself, then becomes the handler; and
//! `carapace __confine-check` (hidden), which the core runs under it to measure the result.

use std::process::ExitCode;

use crate::plugins::confine::{exec_confined, observe, ConfineSpec};

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

/// Prints what this process finds about its own confinement (the core's launcher probe).
pub fn check() -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string(&observe())?);
    Ok(ExitCode::SUCCESS)
}
