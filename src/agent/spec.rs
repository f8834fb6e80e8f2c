//! The container of one agent session: image or rootfs, command, environment.
//!
//! The prompt is substituted into `agent.command` as data; it is never parsed
//! by a shell. With the model proxy on, the command runs under
//! `ipc relay --listen 127.0.0.1:PORT -- <argv>`, which listens first and only
//! then starts the agent (so its first model call cannot race the relay).

use std::path::Path;

use super::config::AgentConfig;
use super::AgentError;
use crate::config::Config;
use crate::core::Core;
use crate::runtime::spec::SOCKET_DIR_TARGET;
use crate::runtime::{ContainerRuntime, ContainerSpec, ImageRef, ImageSource};
use crate::session::SessionSummary;

/// `PATH` inside the container.
pub const CONTAINER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// The placeholder credential the agent gets; the proxy replaces it.
pub const PLACEHOLDER_KEY: &str = "placeholder";
/// The shell Claude Code's Bash tool runs (it refuses busybox `sh`).
pub const AGENT_SHELL: &str = "/bin/bash";

/// How much longer than `ipc`'s own wait the agent's shell command may run.
const BASH_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);
/// Claude Code's own default for a Bash command (2 min), never lowered.
const BASH_LEAST_MS: u128 = 120_000;
/// Claude Code's own longest Bash command (10 min), never lowered.
const BASH_MAX_LEAST_MS: u128 = 600_000;

/// The image the config names (verified by digest), or its test rootfs.
pub async fn image(core: &Core, runtime: &dyn ContainerRuntime) -> Result<ImageSource, AgentError> {
    let config = core.config();
    let runtime_config = &config.runtime;
    if let Some(dir) = &runtime_config.rootfs {
        return Ok(ImageSource::Rootfs(dir.clone()));
    }
    let Some(image) = &runtime_config.image else {
        return Err(AgentError::NoImage);
    };
    let pinned = ImageRef::parse(image).map_err(crate::runtime::RuntimeError::from)?;
    let verified = runtime
        .verify_image(&pinned, &runtime_config.image_layers)
        .await?;
    Ok(ImageSource::Image(verified))
}

/// The spec for `session`, running `agent` with `prompt`.
pub fn build(
    config: &Config,
    socket_dir: &Path,
    session: &SessionSummary,
    agent: &AgentConfig,
    prompt: &str,
    image: ImageSource,
    with_proxy: bool,
) -> ContainerSpec {
    let argv = agent.command_for(prompt);
    let command = if with_proxy {
        let listen = format!("127.0.0.1:{}", agent.relay_port);
        let mut wrapped: Vec<String> = ["ipc", "relay", "--listen", &listen, "--"]
            .map(String::from)
            .to_vec();
        wrapped.extend(argv);
        wrapped
    } else {
        argv
    };
    let call_wait = config.core.longest_call();
    // Claude Code's Bash tool kills a command after 2 min unless told
    // otherwise: it must outlast `ipc`, or the agent loses an answer the
    // person's approval is still on its way to.
    let bash_ms = (call_wait + BASH_MARGIN).as_millis().max(BASH_LEAST_MS);
    let mut spec = ContainerSpec::new(
        &config.runtime,
        &session.id,
        &session.group,
        image,
        socket_dir,
        command,
    )
    .with_env("PATH", CONTAINER_PATH)
    .with_env(
        "CARAPACE_IPC_SOCKET",
        &format!("{SOCKET_DIR_TARGET}/ipc.sock"),
    )
    .with_env("CARAPACE_IPC_TIMEOUT", &call_wait.as_secs().to_string())
    .with_env("BASH_DEFAULT_TIMEOUT_MS", &bash_ms.to_string())
    .with_env(
        "BASH_MAX_TIMEOUT_MS",
        &bash_ms.max(BASH_MAX_LEAST_MS).to_string(),
    )
    .with_env("SHELL", AGENT_SHELL)
    .with_env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    .with_env("CLAUDE_CODE_MAX_RETRIES", "0");
    if with_proxy {
        spec = spec
            .with_env(
                "ANTHROPIC_BASE_URL",
                &format!("http://127.0.0.1:{}", agent.relay_port),
            )
            .with_env("ANTHROPIC_API_KEY", PLACEHOLDER_KEY);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionSummary {
        SessionSummary {
            id: "0123456789abcdef".into(),
            group: "main".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            socket: "/h/run/sessions/0123456789abcdef/ipc.sock".into(),
            origin: Default::default(),
        }
    }

    fn env(spec: &ContainerSpec, key: &str) -> Option<String> {
        spec.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn the_prompt_is_one_argument_and_the_proxy_env_only_with_the_proxy() {
        let prompt = "hi \"$(reboot)\"; exit 1";
        let agent = AgentConfig::default();
        let dir = Path::new("/h/run/sessions/0123456789abcdef");
        let image = ImageSource::Rootfs("/r".into());
        let plain = build(
            &Config::default(),
            dir,
            &session(),
            &agent,
            prompt,
            image.clone(),
            false,
        );
        assert_eq!(plain.command, agent.command_for(prompt));
        assert_eq!(plain.check().map_err(|e| e.to_string()), Ok(()));
        assert_eq!(
            env(&plain, "CARAPACE_IPC_SOCKET").as_deref(),
            Some("/run/carapace/ipc.sock")
        );
        assert_eq!(env(&plain, "CLAUDE_CODE_MAX_RETRIES").as_deref(), Some("0"));
        // `ipc` waits out an approval (300 s) and the tool's deadline (30 s);
        // the agent's shell waits out `ipc`.
        assert_eq!(env(&plain, "CARAPACE_IPC_TIMEOUT").as_deref(), Some("340"));
        assert_eq!(
            env(&plain, "BASH_DEFAULT_TIMEOUT_MS").as_deref(),
            Some("370000")
        );
        assert_eq!(
            env(&plain, "BASH_MAX_TIMEOUT_MS").as_deref(),
            Some("600000")
        );
        assert_eq!(
            env(&plain, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC").as_deref(),
            Some("1")
        );
        assert_eq!(env(&plain, "ANTHROPIC_BASE_URL"), None);
        assert_eq!(env(&plain, "ANTHROPIC_API_KEY"), None);

        let proxied = build(
            &Config::default(),
            dir,
            &session(),
            &agent,
            prompt,
            image,
            true,
        );
        assert_eq!(
            &proxied.command[..5],
            ["ipc", "relay", "--listen", "127.0.0.1:8377", "--"]
        );
        assert_eq!(&proxied.command[5..], agent.command_for(prompt).as_slice());
        assert_eq!(
            env(&proxied, "ANTHROPIC_BASE_URL").as_deref(),
            Some("http://127.0.0.1:8377")
        );
        assert_eq!(
            env(&proxied, "ANTHROPIC_API_KEY").as_deref(),
            Some(PLACEHOLDER_KEY)
        );
        assert_eq!(proxied.check().map_err(|e| e.to_string()), Ok(()));
    }
}
