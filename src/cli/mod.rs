//! The command line: one file per subcommand; this file only declares and dispatches.

mod audit;
mod auth;
mod auth_login;
mod budget;
mod completions;
mod config;
mod confine;
mod confirm;
pub mod demo;
mod demo_container;
mod doctor;
mod events;
mod image;
mod memory;
mod pause;
mod plugin;
mod prompt;
mod session;
mod start;
mod status;
mod uninstall;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::control::{client, ControlRequest};
use crate::paths::Home;

/// How long the CLI waits for the core to answer.
pub(crate) const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// Carapace: run a personal AI agent in a locked-down container; the host holds every credential.
#[derive(Debug, Parser)]
#[command(name = "carapace", version, about)]
pub struct Cli {
    /// The Carapace home (default: $CARAPACE_HOME, else ~/.carapace).
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the core in the foreground (SIGTERM/SIGINT drain and stop it).
    Start,
    /// Ask the running core to drain and stop.
    Stop,
    /// Show the running core's state.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the home, the config and the host, with a fix for each problem.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open or close a session without a container.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Run the agent once for GROUP with a prompt and print its answer.
    Prompt {
        /// A group configured in config.toml.
        #[arg(long)]
        group: String,
        /// The prompt.
        text: String,
        /// Print JSON (session, answer, exit_code).
        #[arg(long)]
        json: bool,
        /// Do not stream the agent's text and tool calls to stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List open sessions (with the container of each agent session).
    Sessions {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop an agent session (its container is removed) or close a session without one.
    StopSession {
        /// The session id.
        id: String,
    },
    /// Pause GROUP (kill switch): stop its sessions, deny its pending calls, and
    /// start nothing for it until `carapace resume GROUP`; kept across restarts.
    Pause {
        /// A group configured in config.toml.
        group: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Resume a paused GROUP.
    Resume {
        /// The paused group.
        group: String,
    },
    /// Today's model tokens per group and task against their caps; `extend` allows more today.
    Budget {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// `extend GROUP TOKENS [--task T]`.
        #[command(subcommand)]
        command: Option<budget::BudgetCommand>,
    },
    /// List and decide high-risk calls waiting for approval.
    #[command(subcommand)]
    Confirm(confirm::ConfirmCommand),
    /// What the agent remembers of a group: list, search, show, rm, promote, brief.
    #[command(subcommand)]
    Memory(memory::MemoryCommand),
    /// Verify or read the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Show, read or change config.toml.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Check a config file without starting anything (exit 1 and the key on error).
    CheckConfig {
        /// The file to check.
        file: std::path::PathBuf,
    },
    /// Build the agent image from local files (recorded by digest in config.toml).
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Follow the event bus (confirmation requests, plugin state, ...).
    Events {
        /// Only topics starting with this (repeatable), e.g. `confirmation.`.
        #[arg(long = "prefix")]
        prefixes: Vec<String>,
        /// Print each event as one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Scaffold, validate and test plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Re-read config.toml and the plugins without stopping the core or its sessions.
    Reload {
        /// Also restart this plugin's handler, even if nothing about it changed.
        plugin: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Show Carapace at work on a throw-away home with the embedded defaults.
    Demo {
        /// Keep the demo home instead of deleting it.
        #[arg(long)]
        keep: bool,
    },
    /// Set, list or remove plugin credentials (values are never printed).
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Remove what install.sh installed (its install record lists it); the home only if asked.
    Uninstall(uninstall::UninstallArgs),
    /// Internal: confine this process with Landlock, then exec a plugin handler.
    #[command(name = "__confine", hide = true)]
    Confine {
        /// The confinement spec (JSON).
        spec: String,
        /// The handler and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Internal: print, as JSON, the confinement this process finds itself under.
    #[command(name = "__confine-check", hide = true)]
    ConfineCheck,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let home = match &cli.home {
        Some(dir) => Home::at(dir.clone()),
        None => Home::resolve(),
    };
    match cli.command {
        Command::Start => start::run(home),
        Command::Stop => {
            ask(&home, &ControlRequest::Stop)?;
            println!("stopping");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => status::run(&home, json),
        Command::Doctor { json } => doctor::run(&home, json),
        Command::Session(command) => session::run(&home, command),
        Command::Prompt {
            group,
            text,
            json,
            quiet,
        } => prompt::run(&home, group, text, json, quiet),
        Command::Sessions { json } => session::list(&home, json),
        Command::StopSession { id } => session::stop(&home, id),
        Command::Pause { group, json } => pause::pause(&home, group, json),
        Command::Resume { group } => pause::resume(&home, group),
        Command::Budget { json, command } => match command {
            Some(command) => budget::run(&home, command),
            None => budget::show(&home, json),
        },
        Command::Confirm(command) => confirm::run(&home, command),
        Command::Memory(command) => memory::run(&home, command),
        Command::Audit(command) => audit::run(&home, command),
        Command::Config(command) => config::run(&home, command),
        Command::Image(command) => image::run(&home, command),
        Command::CheckConfig { file } => {
            // Unlike at start, a missing file is an error here: it was named to be checked.
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            crate::config::Config::parse(&text, &file)?;
            println!("{}: valid", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Events { prefixes, json } => events::run(&home, &prefixes, json),
        Command::Plugin(command) => plugin::run(command),
        Command::Reload { plugin, json } => {
            let summary = ask(&home, &ControlRequest::Reload { plugin })?;
            if json {
                print_json(&summary);
            } else {
                println!("reloaded: {} tools", summary["tools"]);
                for p in summary["plugins"].as_array().cloned().unwrap_or_default() {
                    println!(
                        "  plugin {}: {}",
                        p["name"].as_str().unwrap_or("?"),
                        p["state"].as_str().unwrap_or("?")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => completions::run(shell),
        Command::Demo { keep } => demo::run(keep),
        Command::Auth(command) => auth::run(&home, command),
        Command::Uninstall(args) => uninstall::run(&home, &args),
        Command::Confine { spec, command } => confine::run(&spec, &command),
        Command::ConfineCheck => confine::check(),
    }
}

/// Sends one request to the running core.
pub(crate) fn ask(home: &Home, request: &ControlRequest) -> anyhow::Result<serde_json::Value> {
    Ok(client::request(
        &home.control_socket(),
        request,
        CONTROL_TIMEOUT,
    )?)
}

/// Prints a value as pretty JSON.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
