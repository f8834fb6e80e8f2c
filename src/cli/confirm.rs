//! `carapace confirm list|show|approve|deny`.

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
    /// Show one pending call with its exact arguments (nothing hidden), escaped.
    Show {
        /// The confirmation id from `confirm list`.
        id: String,
        /// Print JSON (the raw arguments unescaped, inside JSON strings).
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
                println!("{}", shown(&p));
            }
        }
        ConfirmCommand::Show { id, json } => {
            let shown_call = super::ask(home, &ControlRequest::ConfirmShow { id })?;
            if json {
                super::print_json(&shown_call);
                return Ok(ExitCode::SUCCESS);
            }
            let pending = shown_call.get("pending").cloned().unwrap_or_default();
            println!("{}", shown(&pending));
            let raw = shown_call
                .get("raw_display")
                .and_then(|v| v.as_str())
                .map(|text| match crate::display::is_safe(text) {
                    true => text.to_owned(),
                    false => crate::display::escape_str(text),
                })
                .unwrap_or_default();
            println!("    exact arguments (what runs): {raw}");
            let hidden = pending
                .get("redactions")
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len);
            if hidden > 0 {
                println!(
                    "    {hidden} part(s) looked like credentials and were hidden from chat cards: \
                     a plugin cannot approve this call, only you can here"
                );
            }
        }
        ConfirmCommand::Approve { id } => decide(home, id, true)?,
        ConfirmCommand::Deny { id } => decide(home, id, false)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// One pending call as the person reads it: only display-safe values. The
/// core's `display` form is used; anything unsafe in it (or an older core's
/// entry without it) is escaped here.
fn shown(pending: &serde_json::Value) -> String {
    use crate::display::{escape_json, escape_str, is_safe};
    let display = pending.get("display");
    let field = |k: &str| match display.and_then(|d| d.get(k)).and_then(|v| v.as_str()) {
        Some(text) if is_safe(text) => text.to_owned(),
        Some(text) => escape_str(text),
        None => match pending.get(k) {
            Some(serde_json::Value::String(text)) => escape_str(text),
            Some(other) => escape_json(other),
            None => String::new(),
        },
    };
    let id = pending.get("id").and_then(|v| v.as_str()).unwrap_or("");
    let plugin = match pending.get("plugin").and_then(|v| v.as_str()) {
        Some(plugin) => escape_str(plugin),
        None => "core".into(),
    };
    format!(
        "{}  tool={} plugin={plugin} group={} session={} origin={}\n    arguments: {}",
        escape_str(id),
        field("tool"),
        field("group"),
        field("session"),
        super::session::shown_origin(pending.get("origin")),
        field("arguments"),
    )
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
