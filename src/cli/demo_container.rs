//! The demo's container step: one agent session in a real, hardened container.
//!
//! The agent is a scripted stand-in for Claude Code (it speaks its stream-json
//! and calls `ipc` like it would), so no model key is needed and nothing
//! touches the network. Its root filesystem is assembled from local files
//! ([`crate::runtime::rootfs`]). Where podman or busybox is missing, the demo
//! says what to install and goes on without this step.

use std::path::Path;
use std::time::Duration;

use crate::control::{client, ControlRequest};
use crate::paths::Home;
use crate::runtime::rootfs::{self, RootfsPlan};

/// The scripted agent: Claude Code's stream-json, real `ipc` calls from inside.
const DEMO_AGENT: &str = r#"#!/bin/sh
echo '{"type":"system","subtype":"init","model":"scripted-demo","tools":["Bash"]}'
say() { echo "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"$1\"}]}}"; }
quote() { tr -d '\n' | sed 's/\\/\\\\/g; s/"/\\"/g'; }
tools=$(ipc list_tools | grep -o '"name":"[a-z_]*"' | sed 's/"name"://; s/"//g' | sort | tr '\n' ' ' | sed 's/ $//')
say "ipc list_tools: $tools"
echoed=$(ipc echo '{"text":"hello from inside the container"}' 2>&1 | quote)
say "ipc echo answered: $echoed"
nets=$(ls /sys/class/net | sort | tr '\n' ' ' | sed 's/ $//')
user=$(id -u)
echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done in a container as uid $user with network interfaces: $nets\"}"
"#;

/// Why the container step cannot run here, or what it needs.
pub enum Readiness {
    /// The root filesystem is assembled; run with this config.
    Ready {
        /// The `[runtime]` and `[agent]` config to add.
        config: String,
    },
    /// Something is missing; the text says what to install.
    Missing(String),
}

/// Checks for podman and busybox and assembles the root filesystem under `home`.
pub fn prepare(home: &Home, ipc: &Path, user: (u32, u32)) -> Readiness {
    let answers = std::process::Command::new("podman")
        .args(["version", "--format", "{{.Client.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !answers {
        return Readiness::Missing(
            "podman is not installed or does not answer (apt-get install podman runc)".into(),
        );
    }
    let agent = home.root().join("demo-agent/carapace-demo-agent");
    let plan = RootfsPlan::from_host(agent.clone(), ipc.to_owned(), user);
    if plan.busybox.is_none() {
        return Readiness::Missing(
            "the scripted agent needs a static busybox (apt-get install busybox-static)".into(),
        );
    }
    let root = home.root().join("demo-rootfs");
    let assembled = write_agent(&agent)
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::create_dir_all(&root).map_err(|e| e.to_string()))
        .and_then(|()| rootfs::assemble(&root, &plan).map_err(|e| e.to_string()));
    if let Err(e) = assembled {
        return Readiness::Missing(format!("cannot assemble the root filesystem: {e}"));
    }
    let oci_runtime = if rootfs::find_on_path("runc").is_some() {
        "oci_runtime = \"runc\"\n"
    } else {
        ""
    };
    Readiness::Ready {
        config: format!(
            "\n[runtime]\nengine = \"podman\"\ncgroup_manager = \"cgroupfs\"\n{oci_runtime}\
             rootfs = \"{}\"\n\n[agent]\ncommand = [\"carapace-demo-agent\", \"{{prompt}}\"]\n\
             model_proxy = false\nidle_timeout_secs = 60\n",
            root.display()
        ),
    }
}

fn write_agent(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, DEMO_AGENT)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// Runs one agent session through the core and prints what it streams and answers.
pub fn run(home: &Home) -> anyhow::Result<()> {
    println!("\n== an agent session in a hardened container (scripted agent, no network)");
    let request = ControlRequest::Prompt {
        group: "assistant".into(),
        text: "Show what you can do from inside.".into(),
    };
    let answer = client::request_streaming(
        &home.control_socket(),
        &request,
        Duration::from_secs(120),
        |update| {
            if let Some(text) = update["text"].as_str() {
                println!("agent: {text}");
            }
        },
    )?;
    println!("answer: {}", answer["answer"].as_str().unwrap_or_default());
    Ok(())
}
