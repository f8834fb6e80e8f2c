//! `carapace session open|close`, `carapace sessions` and `carapace stop-session`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::control::ControlRequest;
use crate::paths::Home;
use crate::session::Trust;

/// Session subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Open a session for GROUP and print its socket path.
    Open {
        /// A group configured in config.toml.
        #[arg(long)]
        group: String,
        /// Who the session acts for, as its plugins are told (`origin.trust`):
        /// `owner` only when you yourself will drive it; whoever else is handed the
        /// socket is `unknown` (the default) or a `contact`.
        #[arg(long, default_value = "unknown", value_parser = ["owner", "contact", "unknown"])]
        trust: String,
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
        SessionCommand::Open { group, trust, json } => {
            let trust = trust.parse::<Trust>().map_err(anyhow::Error::msg)?;
            let summary = super::ask(home, &ControlRequest::SessionOpen { group, trust })?;
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
            "{}  {:<16} {}  {}  {}  {}",
            get("id"),
            get("group"),
            get("started_at"),
            shown_origin(s.get("origin")),
            container,
            get("socket")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A session's origin on one line, `kind/trust` and the plugin and sender if
/// any, each escaped for the terminal (a sender is a channel's words).
pub(super) fn shown_origin(origin: Option<&serde_json::Value>) -> String {
    let part = |k: &str| {
        origin
            .and_then(|o| o.get(k))
            .and_then(|v| v.as_str())
            .map(crate::display::escape_str)
    };
    let mut shown = format!(
        "{}/{}",
        part("kind").unwrap_or_else(|| "open".into()),
        part("trust").unwrap_or_else(|| "unknown".into())
    );
    for key in ["plugin", "sender"] {
        if let Some(value) = part(key) {
            shown.push_str(&format!(" {key}={value}"));
        }
    }
    shown
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
