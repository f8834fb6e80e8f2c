//! `carapace config show|get|set`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::edit;
use crate::paths::Home;

/// Config subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file over defaults).
    Show,
    /// Print one setting, e.g. `core.tool_deadline_secs`.
    Get {
        /// Dotted key.
        key: String,
    },
    /// Change one setting in config.toml, keeping comments and order.
    Set {
        /// Dotted key.
        key: String,
        /// A TOML value (`30`, `true`, `["a_*"]`) or a bare string.
        value: String,
    },
}

/// Runs a config subcommand.
pub fn run(home: &Home, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    let path = home.config_file();
    match command {
        ConfigCommand::Show => print!("{}", edit::show(&path)?),
        ConfigCommand::Get { key } => match edit::get(&path, &key)? {
            toml::Value::String(s) => println!("{s}"),
            toml::Value::Table(t) => print!("{}", toml::to_string(&t).unwrap_or_default()),
            other => println!("{other}"),
        },
        ConfigCommand::Set { key, value } => {
            crate::paths::create_private_dir(home.root())?;
            edit::set(&path, &key, &value)?;
            println!("{key} = {}", edit::get(&path, &key)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
