//! The kill switch from the phone: an owner's `/stop`, `/resume` and `/status` in a
//! mapped chat become the core's `group/pause`, `group/resume` and `group/status` for
//! that chat's group (the `kill_switch` capability), and the answer a short text.
//!
//! Only `inbound::classify` makes a [`Command`], and only for an owner; the core
//! checks again that this plugin serves the group. Must never act on another group.

use std::time::Duration;

use carapace_plugin_sdk::{CoreError, CoreLink, METHOD_NOT_FOUND};
use serde_json::{json, Value};

use crate::inbound::{Command, CommandKind};

/// How long a pause may take (it stops containers).
const PAUSE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long resume and status may take.
const QUICK_TIMEOUT: Duration = Duration::from_secs(15);
/// Most sessions or approvals listed in a status.
const MAX_LISTED: usize = 10;

/// Runs `command` against the core; the text to answer with.
pub fn run(link: &CoreLink, command: &Command) -> String {
    let by = format!("{} (Telegram user {})", command.name, command.user);
    let group = command.group.as_str();
    let asked = match command.kind {
        CommandKind::Stop => link.request_with_timeout(
            "group/pause",
            json!({"group": group, "by": by}),
            PAUSE_TIMEOUT,
        ),
        CommandKind::Resume => link.request_with_timeout(
            "group/resume",
            json!({"group": group, "by": by}),
            QUICK_TIMEOUT,
        ),
        CommandKind::Status => {
            link.request_with_timeout("group/status", json!({"group": group}), QUICK_TIMEOUT)
        }
    };
    match asked {
        Ok(answer) => match command.kind {
            CommandKind::Stop => paused(group, &answer),
            CommandKind::Resume => resumed(group, &answer),
            CommandKind::Status => status(group, &answer),
        },
        Err(CoreError::Rejected(error))
            if error.code == METHOD_NOT_FOUND || error.data_str("code") == Some("NOT_CAPABLE") =>
        {
            "The kill switch is not available here: this core does not grant it to the Telegram plugin. Use `carapace pause` on the host.".to_owned()
        }
        Err(CoreError::Rejected(error)) if error.data_str("code") == Some("PAUSED_AT_HOST") => {
            format!("Group {group} was paused at the host, so only the host can resume it: `carapace resume {group}`.")
        }
        Err(CoreError::Rejected(error)) => format!("The core refused: {}", error.message),
        Err(_) => "The core did not answer in time; check `carapace status` on the host.".to_owned(),
    }
}

/// The answer to `/stop`, from the pause's report.
pub fn paused(group: &str, report: &Value) -> String {
    let count = |key: &str| {
        report
            .get(key)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    let mut text = format!(
        "⏸ Group {group} is paused: {} session(s) stopped, {} approval(s) denied.",
        count("stopped") + count("closed"),
        count("denied")
    );
    if count("failed") > 0 {
        text.push_str(&format!(
            " {} session(s) could not be stopped: see `carapace status`.",
            count("failed")
        ));
    }
    if report.get("persisted") == Some(&Value::Bool(false)) {
        text.push_str(" Warning: the pause could not be saved and ends if the core restarts.");
    }
    text.push_str(" New messages are refused until /resume.");
    text
}

/// The answer to `/resume`.
pub fn resumed(group: &str, answer: &Value) -> String {
    if answer.get("resumed") == Some(&Value::Bool(true)) {
        format!("▶️ Group {group} is resumed: the agent may run again.")
    } else {
        format!("Group {group} was not paused.")
    }
}

/// The answer to `/status`.
pub fn status(group: &str, answer: &Value) -> String {
    let mut text = if answer.get("paused") == Some(&Value::Bool(true)) {
        let pause = answer.get("pause").unwrap_or(&Value::Null);
        let by = pause.get("by").and_then(Value::as_str).unwrap_or("someone");
        let at = pause.get("at").and_then(Value::as_str).unwrap_or("?");
        format!("Group {group}: ⏸ paused by {by} since {at}.")
    } else {
        format!("Group {group}: running (not paused).")
    };
    let sessions = list(answer, "sessions");
    text.push_str(&format!("\nSessions running: {}", sessions.len()));
    for session in sessions.iter().take(MAX_LISTED) {
        let id = short(session.get("id").and_then(Value::as_str).unwrap_or("?"));
        let origin = session.get("origin").unwrap_or(&Value::Null);
        let kind = origin.get("kind").and_then(Value::as_str).unwrap_or("?");
        let trust = origin
            .get("trust")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let sender = origin
            .get("sender")
            .and_then(Value::as_str)
            .map(|s| format!(" from {s}"))
            .unwrap_or_default();
        text.push_str(&format!("\n• {id} ({kind}{sender}, trust {trust})"));
    }
    let pending = list(answer, "pending");
    text.push_str(&format!("\nApprovals waiting: {}", pending.len()));
    for call in pending.iter().take(MAX_LISTED) {
        let tool = call
            .pointer("/display/tool")
            .or_else(|| call.get("tool"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let id = short(call.get("id").and_then(Value::as_str).unwrap_or("?"));
        text.push_str(&format!("\n• {tool} ({id})"));
    }
    text
}

fn list<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_as_sentences() {
        let report = json!({"group": "main", "newly": true, "persisted": true,
            "denied": ["c1"], "stopped": ["s1"], "closed": [], "failed": []});
        assert_eq!(
            paused("main", &report),
            "⏸ Group main is paused: 1 session(s) stopped, 1 approval(s) denied. New messages are refused until /resume."
        );
        assert!(resumed("main", &json!({"resumed": true})).contains("resumed"));
        assert!(resumed("main", &json!({"resumed": false})).contains("was not paused"));
        let shown = status(
            "main",
            &json!({
                "paused": true, "pause": {"by": "Ann (Telegram user 1)", "at": "2026-12-03T10:00:00Z"},
                "sessions": [{"id": "6f1c2a3b4d", "origin": {"kind": "message", "sender": "1", "trust": "owner"}}],
                "pending": [{"id": "0f8fad5b-d9cb", "tool": "send_mail", "display": {"tool": "send_mail"}}],
            }),
        );
        assert_eq!(
            shown,
            "Group main: ⏸ paused by Ann (Telegram user 1) since 2026-12-03T10:00:00Z.\nSessions running: 1\n• 6f1c2a3b (message from 1, trust owner)\nApprovals waiting: 1\n• send_mail (0f8fad5b)"
        );
    }
}
