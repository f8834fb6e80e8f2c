//! `carapace pause GROUP` and `carapace resume GROUP`: the kill switch from the host.

use std::process::ExitCode;

use crate::control::ControlRequest;
use crate::paths::Home;

/// Pauses `group`: its sessions stopped, its pending calls denied, nothing new started.
pub fn pause(home: &Home, group: String, json: bool) -> anyhow::Result<ExitCode> {
    let report = super::ask(home, &ControlRequest::Pause { group })?;
    if json {
        super::print_json(&report);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |k: &str| report.get(k).and_then(|v| v.as_str()).unwrap_or("?");
    let count = |k: &str| report.get(k).and_then(|v| v.as_array()).map_or(0, Vec::len);
    let group = crate::display::escape_str(text("group"));
    if report.get("newly").and_then(|v| v.as_bool()) == Some(false) {
        println!("group {group} was paused already");
    } else {
        println!("paused group {group}");
    }
    println!(
        "  {} pending calls denied, {} agent sessions stopped, {} sessions closed",
        count("denied"),
        count("stopped"),
        count("closed")
    );
    for failed in report
        .get("failed")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
    {
        let failed = failed.as_str().unwrap_or("?");
        println!("  NOT STOPPED: {}", crate::display::escape_str(failed));
    }
    if report.get("persisted").and_then(|v| v.as_bool()) == Some(false) {
        println!("  WARNING: the pause could not be written to state/paused.json: it holds until the core stops, not after (see the core's log)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Resumes `group`.
pub fn resume(home: &Home, group: String) -> anyhow::Result<ExitCode> {
    let answer = super::ask(home, &ControlRequest::Resume { group })?;
    let group = answer.get("group").and_then(|v| v.as_str()).unwrap_or("?");
    let group = crate::display::escape_str(group);
    if answer.get("resumed").and_then(|v| v.as_bool()) == Some(true) {
        println!("resumed group {group}");
    } else {
        println!("group {group} was not paused");
    }
    Ok(ExitCode::SUCCESS)
}
