//! The `carapace` command: parses the command line and hands off to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = carapace::cli::Cli::parse();
    match carapace::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("carapace: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
