//! `[agent]` in `config.toml`: which agent program runs in a session's
//! container, and how long it may stay silent.
//!
//! The default is Claude Code driven headless (DESIGN.md §4); `command` may
//! name any CLI agent. Every element is one argv element: `{prompt}` inside
//! an element is replaced by the prompt, and nothing passes through a shell.

use serde::{Deserialize, Serialize};

/// The placeholder replaced by the prompt in [`AgentConfig::command`].
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";

/// `[agent]`: the agent command line and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Program and arguments run in the container; `{prompt}` is substituted.
    pub command: Vec<String>,
    /// Seconds the agent may print nothing before its container is killed.
    pub idle_timeout_secs: u64,
    /// Serve the model proxy on the session's `model.sock` and point the agent
    /// at it through `ipc relay` on loopback (the agent never sees a key).
    pub model_proxy: bool,
    /// Loopback port `ipc relay` listens on inside the container.
    pub relay_port: u16,
    /// Agent sessions one group may run at once; more wait their turn (in order).
    pub max_concurrent_per_group: usize,
    /// Agent sessions that may wait for a turn, over all groups; past it an event is refused.
    pub max_queued: usize,
    /// The plugin that briefs new sessions (`memory_brief` hook); needed only when
    /// more than one provides it.
    pub memory_brief: Option<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            command: [
                "claude",
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--allowedTools",
                "Bash(ipc:*)",
                // Only the managed settings, instructions and skills (read-only at
                // /etc/claude-code): none from ~/.claude, which the agent can write.
                "--setting-sources",
                "",
                // Last, after `--`: a prompt starting with `-` (a stranger's
                // message) is text, never an option.
                "--",
                PROMPT_PLACEHOLDER,
            ]
            .map(String::from)
            .to_vec(),
            idle_timeout_secs: 300,
            model_proxy: true,
            relay_port: 8377,
            max_concurrent_per_group: 2,
            max_queued: 256,
            memory_brief: None,
        }
    }
}

impl AgentConfig {
    /// Checks what types alone cannot; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        match self.command.first() {
            Some(program) if !program.is_empty() && !program.starts_with('-') => {}
            _ => return Err("key `agent.command`: must start with a program".into()),
        }
        if self.command.iter().any(|a| a.contains('\0')) {
            return Err("key `agent.command`: an argument contains NUL".into());
        }
        if self.idle_timeout_secs == 0 {
            return Err("key `agent.idle_timeout_secs`: must be at least 1".into());
        }
        if self.relay_port == 0 {
            return Err("key `agent.relay_port`: must be a port, 1-65535".into());
        }
        if let Some(name) = &self.memory_brief {
            if !crate::plugins::valid_plugin_name(name) {
                return Err(format!(
                    "key `agent.memory_brief`: `{}` is not a plugin name",
                    crate::display::escape_str(name)
                ));
            }
        }
        if self.max_concurrent_per_group == 0 {
            return Err("key `agent.max_concurrent_per_group`: must be at least 1".into());
        }
        Ok(())
    }

    /// The command with `{prompt}` replaced by `prompt` in each element.
    pub fn command_for(&self, prompt: &str) -> Vec<String> {
        self.command
            .iter()
            .map(|arg| arg.replace(PROMPT_PLACEHOLDER, prompt))
            .collect()
    }

    /// [`AgentConfig::idle_timeout_secs`] as a duration.
    pub fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.idle_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_claude_code_and_the_prompt_stays_one_argument() {
        let config = AgentConfig::default();
        assert_eq!(config.check(), Ok(()));
        let prompt = "list my tools; rm -rf / \"$(x)\" {prompt}";
        let argv = config.command_for(prompt);
        assert_eq!(argv.len(), config.command.len());
        assert_eq!(argv[0], "claude");
        assert_eq!(argv.last().map(String::as_str), Some(prompt));
        assert!(argv.contains(&"Bash(ipc:*)".to_owned()));
        // A prompt that looks like an option is still the prompt: it follows `--`.
        let option_like = config.command_for("--permission-mode=bypassPermissions");
        let at = option_like.len() - 2;
        assert_eq!(option_like[at], "--");
        assert_eq!(option_like[at + 1], "--permission-mode=bypassPermissions");
    }

    #[test]
    fn a_section_parses_and_bad_values_are_named() {
        let config: AgentConfig =
            toml::from_str("command = [\"/bin/a\", \"{prompt}\"]\nidle_timeout_secs = 2\n")
                .expect("valid");
        assert_eq!(config.command_for("hi"), ["/bin/a", "hi"]);
        assert_eq!(config.idle_timeout().as_secs(), 2);
        assert!(toml::from_str::<AgentConfig>("comand = []\n").is_err());
        let bad = |text: &str| {
            toml::from_str::<AgentConfig>(text)
                .expect("parses")
                .check()
                .expect_err("refused")
        };
        assert!(bad("command = []\n").contains("agent.command"));
        assert!(bad("command = [\"--x\"]\n").contains("agent.command"));
        assert!(bad("idle_timeout_secs = 0\n").contains("idle_timeout_secs"));
        assert!(bad("max_concurrent_per_group = 0\n").contains("max_concurrent_per_group"));
    }
}
