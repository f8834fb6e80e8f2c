//! `carapace prompt --group G "text"`: one agent session, its answer printed.
//!
//! While it runs, the model's text and the tools it calls stream to stderr
//! (`--quiet` hides them); stdout gets the answer alone, for scripts.

use std::process::ExitCode;
use std::time::Duration;

use std::io::Write;

use crate::control::{client, ControlRequest};
use crate::paths::Home;

/// How long the CLI waits for a session to end (the core's idle timeout ends hung agents).
const PROMPT_TIMEOUT: Duration = Duration::from_secs(6 * 60 * 60);

/// Asks the core to run the agent and prints its answer.
pub fn run(
    home: &Home,
    group: String,
    text: String,
    json: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let request = ControlRequest::Prompt { group, text };
    let show = |update: &serde_json::Value| {
        if quiet {
            return;
        }
        let line = match update["kind"].as_str() {
            Some("tool") => format!(
                "  -> {} {}",
                printable(update["name"].as_str().unwrap_or_default()),
                printable(update["input"].as_str().unwrap_or_default())
            ),
            _ => printable(update["text"].as_str().unwrap_or_default()),
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    };
    let answer = client::request_streaming(&home.control_socket(), &request, PROMPT_TIMEOUT, show)?;
    if json {
        super::print_json(&answer);
    } else {
        let text = answer["answer"].as_str().unwrap_or_default();
        // On a terminal the agent's words must not drive it (escapes, cursor
        // moves, OSC clipboard writes); a script reading a pipe gets them as they are.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!("{}", printable(text));
        } else {
            println!("{text}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The text without terminal control characters (the agent's words reach a terminal).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_never_reach_the_terminal() {
        assert_eq!(printable("a\u{1b}[2Jb\r\nc\u{7}"), "a [2Jb \nc ");
        assert_eq!(
            printable("col\tcol\u{9b}31m"),
            "col\tcol 31m",
            "tabs stay, C1 goes"
        );
    }
}
