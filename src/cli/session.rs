//! `carapace session open|close`, `carapace sessions` and `carapace stop-session`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::control::ControlRequest;
use crate::paths::Home;

/// Session subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Open a session for GROUP and print its socket path.
    Open {
        /// A group configured in config.toml.
        #[arg(long)]
        group: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Close a session.
    Close {
        /// The session id.
        id: String,
    },
}

/// Runs a session subcommand.
pub fn run(home: &Home, command: SessionCommand) -> anyhow::Result<ExitCode> {
    match command {
        SessionCommand::Open { group, json } => {
            let summary = super::ask(home, &ControlRequest::SessionOpen { group })?;
            if json {
                super::print_json(&summary);
            } else {
                let socket = summary.get("socket").and_then(|s| s.as_str()).unwrap_or("");
                println!("{socket}");
            }
        }
        SessionCommand::Close { id } => {
            super::ask(home, &ControlRequest::SessionClose { id: id.clone() })?;
            println!("closed {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists open sessions.
pub fn list(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let sessions = super::ask(home, &ControlRequest::Sessions)?;
    if json {
        super::print_json(&sessions);
        return Ok(ExitCode::SUCCESS);
    }
    let all = sessions.as_array().cloned().unwrap_or_default();
    if all.is_empty() {
        println!("no sessions");
    }
    for s in all {
        let get = |k: &str| s.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let container = match get("container") {
            c if c.is_empty() => "no container".to_owned(),
            c => c,
        };
        println!(
            "{}  {:<16} {}  {}  {}",
            get("id"),
            get("group"),
            get("started_at"),
            container,
            get("socket")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Stops an agent session, or closes a session without a container.
pub fn stop(home: &Home, id: String) -> anyhow::Result<ExitCode> {
    let answer = super::ask(home, &ControlRequest::StopSession { id: id.clone() })?;
    match answer.get("container").and_then(|c| c.as_str()) {
        Some(container) => println!("stopping {id} (container {container} removed)"),
        None => println!("closed {id}"),
    }
    Ok(ExitCode::SUCCESS)
}
