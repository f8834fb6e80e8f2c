//! `carapace budget`: today's model tokens per group and task against their
//! caps, and `carapace budget extend` to allow more for the rest of the UTC day.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::config::Config;
use crate::control::client::ClientError;
use crate::control::{client, ControlRequest};
use crate::model_proxy::{DayLedger, Journal, UsageLedger};
use crate::paths::Home;

/// `carapace budget ...` (without a subcommand: show today's use).
#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Allow GROUP (or one of its tasks) TOKENS more today (the running core records it).
    Extend {
        /// The configured group.
        group: String,
        /// Tokens to allow, on top of the cap in force.
        tokens: u64,
        /// A task of the group (its id, as `carapace budget` shows it).
        #[arg(long)]
        task: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Shows today's use: from the running core (with tokens held by requests in
/// flight), or from the day file when the core is not running.
pub fn show(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let report = match client::request(
        &home.control_socket(),
        &ControlRequest::Budget,
        super::CONTROL_TIMEOUT,
    ) {
        Ok(report) => report,
        Err(ClientError::NotRunning(_)) => {
            let config = Config::load(&home.config_file())?;
            let (ledger, skipped) = DayLedger::open(Journal::new(&home.usage_dir()))?;
            if skipped > 0 {
                eprintln!(
                    "warning: {skipped} lines of today's ledger did not parse and are not counted"
                );
            }
            crate::serve::budget::report(config.model.caps(), ledger.today())
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        super::print_json(&report);
        return Ok(ExitCode::SUCCESS);
    }
    let day = report.get("day").and_then(Value::as_str).unwrap_or("?");
    let rows = report
        .get("scopes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!("model tokens today ({day}, UTC):");
    if rows.is_empty() {
        println!("  none used yet");
    }
    for row in rows {
        let num = |k: &str| row.get(k).and_then(Value::as_u64).unwrap_or(0);
        let group =
            crate::display::escape_str(row.get("group").and_then(Value::as_str).unwrap_or("?"));
        let name = match row.get("task").and_then(Value::as_str) {
            Some(task) => format!("{group} task {}", crate::display::escape_str(task)),
            None => group,
        };
        let cap = match num("cap") {
            0 => "no cap".to_owned(),
            cap if num("extended") > 0 => format!("cap {cap} (extended by {})", num("extended")),
            cap => format!("cap {cap}"),
        };
        let held = match num("reserved") {
            0 => String::new(),
            held => format!(", {held} held in flight"),
        };
        let spent = if num("cap") > 0 && num("used") >= num("cap") {
            "  SPENT"
        } else {
            ""
        };
        println!("  {name}: {} used, {cap}{held}{spent}", num("used"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `budget` subcommand.
pub fn run(home: &Home, command: BudgetCommand) -> anyhow::Result<ExitCode> {
    match command {
        BudgetCommand::Extend {
            group,
            tokens,
            task,
            json,
        } => {
            let done = super::ask(
                home,
                &ControlRequest::BudgetExtend {
                    group,
                    task,
                    tokens,
                },
            )?;
            if json {
                super::print_json(&done);
            } else {
                let num = |k: &str| done.get(k).and_then(Value::as_u64).unwrap_or(0);
                println!(
                    "allowed {} more tokens today: cap {} ({} used)",
                    num("tokens"),
                    num("cap"),
                    num("used")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
