//! `carapace status`.

use std::process::ExitCode;

use crate::control::ControlRequest;
use crate::paths::Home;

/// Prints the running core's state.
pub fn run(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let status = super::ask(home, &ControlRequest::Status)?;
    if json {
        super::print_json(&status);
        return Ok(ExitCode::SUCCESS);
    }
    let field = |k: &str| status.get(k).map(|v| v.to_string()).unwrap_or_default();
    println!(
        "carapace {} running (pid {})",
        field("version").trim_matches('"'),
        field("pid")
    );
    println!("  home:      {}", field("home").trim_matches('"'));
    println!("  since:     {}", field("started_at").trim_matches('"'));
    println!("  sessions:  {}", field("sessions"));
    println!("  tools:     {}", field("tools"));
    println!(
        "  pending confirmations: {}",
        field("pending_confirmations")
    );
    let brief = |k: &str| {
        status
            .pointer(&format!("/memory_brief/{k}"))
            .and_then(|v| v.as_str())
    };
    match (brief("plugin"), brief("problem")) {
        (_, Some(problem)) => println!(
            "  memory brief: none: {}",
            crate::display::escape_str(problem)
        ),
        (Some(plugin), None) => println!("  memory brief: plugin {plugin}"),
        (None, None) => {}
    }
    let paused = status
        .get("paused_groups")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    if paused.is_empty() {
        println!("  paused groups: none");
    }
    for pause in &paused {
        let text = |k: &str| {
            let value = pause.get(k).and_then(|v| v.as_str()).unwrap_or("?");
            crate::display::escape_str(value)
        };
        let via = match pause.get("plugin").and_then(|v| v.as_str()) {
            Some(plugin) => format!(" via {}", crate::display::escape_str(plugin)),
            None => String::new(),
        };
        println!(
            "  PAUSED group {}: by {}{via} at {} (`carapace resume {}` lifts it)",
            text("group"),
            text("by"),
            text("at"),
            text("group")
        );
    }
    if let Some(audit) = status.get("audit") {
        println!("  audit log: {}", audit_line(audit));
    }
    if let Some(plugins) = status.get("plugins").and_then(|p| p.as_array()) {
        for plugin in plugins {
            let name = plugin.get("name").and_then(|v| v.as_str()).unwrap_or("?");
            let state = plugin
                .get("state")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .replace('_', " ");
            match plugin.get("category").and_then(|v| v.as_str()) {
                Some(category) => println!("  plugin {name}: {state} ({category})"),
                None => println!("  plugin {name}: {state}"),
            }
            let capabilities: Vec<&str> = plugin
                .get("capabilities")
                .and_then(|v| v.as_array())
                .map(|all| all.iter().filter_map(|c| c.as_str()).collect())
                .unwrap_or_default();
            if !capabilities.is_empty() {
                println!("    capabilities: {}", capabilities.join(", "));
            }
            if let Some(confinement) = plugin.get("confinement").and_then(|v| v.as_str()) {
                println!("    {confinement}");
            }
            let missing = plugin
                .pointer("/enforcement/not_enforced")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            for gap in missing.iter().filter_map(|g| g.as_str()) {
                println!("    not enforced: {gap}");
            }
            if let Some(problem) = plugin.get("problem").and_then(|v| v.as_str()) {
                // A plugin's own words (or a file name it refused): escaped for the terminal.
                println!("    {}", crate::display::escape_str(problem));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line on the audit log's health: "ok", or why tool calls are refused.
pub(super) fn audit_line(audit: &serde_json::Value) -> String {
    if audit.get("available").and_then(|v| v.as_bool()) != Some(false) {
        return "ok".into();
    }
    let text = |k: &str| audit.get(k).and_then(|v| v.as_str()).unwrap_or("?");
    format!(
        "UNAVAILABLE since {}: {}; every tool call is refused with AUDIT_UNAVAILABLE \
         until a line can be written again ({} events lost so far); free space in the \
         log directory and it recovers on its own",
        text("since"),
        text("reason"),
        audit.get("lost").and_then(|v| v.as_u64()).unwrap_or(0)
    )
}
