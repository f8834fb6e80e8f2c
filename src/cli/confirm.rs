//! `carapace confirm list|approve|deny`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::control::ControlRequest;
use crate::paths::Home;

/// Confirmation subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfirmCommand {
    /// List high-risk calls waiting for a decision.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Let a pending call run.
    Approve {
        /// The confirmation id from `confirm list`.
        id: String,
    },
    /// Refuse a pending call.
    Deny {
        /// The confirmation id from `confirm list`.
        id: String,
    },
}

/// Runs a confirmation subcommand.
pub fn run(home: &Home, command: ConfirmCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfirmCommand::List { json } => {
            let pending = super::ask(home, &ControlRequest::ConfirmList)?;
            if json {
                super::print_json(&pending);
                return Ok(ExitCode::SUCCESS);
            }
            let all = pending.as_array().cloned().unwrap_or_default();
            if all.is_empty() {
                println!("nothing waiting");
            }
            for p in all {
                let get = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
                println!(
                    "{}  tool={} group={} session={}\n    arguments: {}",
                    get("id"),
                    get("tool"),
                    get("group"),
                    get("session"),
                    p.get("arguments")
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                );
            }
        }
        ConfirmCommand::Approve { id } => decide(home, id, true)?,
        ConfirmCommand::Deny { id } => decide(home, id, false)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn decide(home: &Home, id: String, approve: bool) -> anyhow::Result<()> {
    super::ask(
        home,
        &ControlRequest::ConfirmDecide {
            id: id.clone(),
            approve,
        },
    )?;
    println!("{} {id}", if approve { "approved" } else { "denied" });
    Ok(())
}
