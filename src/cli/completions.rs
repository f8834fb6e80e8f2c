//! `carapace completions SHELL`.

use std::process::ExitCode;

use clap::CommandFactory;

/// Prints completions for `shell` to stdout.
pub fn run(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = super::Cli::command();
    clap_complete::generate(shell, &mut command, "carapace", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
