//! `carapace prompt --group G "text"`: one agent session, its answer printed.

use std::process::ExitCode;
use std::time::Duration;

use crate::control::{client, ControlRequest};
use crate::paths::Home;

/// How long the CLI waits for a session to end (the core's idle timeout ends hung agents).
const PROMPT_TIMEOUT: Duration = Duration::from_secs(6 * 60 * 60);

/// Asks the core to run the agent and prints its answer.
pub fn run(home: &Home, group: String, text: String, json: bool) -> anyhow::Result<ExitCode> {
    let request = ControlRequest::Prompt { group, text };
    let answer = client::request(&home.control_socket(), &request, PROMPT_TIMEOUT)?;
    if json {
        super::print_json(&answer);
    } else {
        println!("{}", answer["answer"].as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}
