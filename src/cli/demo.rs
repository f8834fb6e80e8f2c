//! `carapace demo`: the core at work on a throw-away home, driven by the real `ipc` binary.
//!
//! Starts `carapace start` as a child process with embedded defaults, opens a
//! session, makes an allowed call, a call with an extra field, a call the
//! group may not make, and calls until the rate limit trips, a plugin call, a
//! redaction and two high-risk calls; then, where podman is installed, one
//! agent session in a hardened container ([`super::demo_container`]); then
//! verifies the audit chain and stops the core.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::control::{client, ControlRequest};
use crate::paths::Home;
use crate::session::Trust;

/// The demo's configuration: one group that may list tools, read its session
/// info and use the bundled echo plugin.
pub const DEMO_CONFIG: &str = r#"# Carapace demo configuration (embedded defaults)
[core]
log_level = "warn"
confirmation_timeout_secs = 30

[groups.assistant]
tools = ["list_tools", "get_session_info", "echo", "echo_sensitive"]
rate_limit = { per_minute = 6, burst = 3 }
"#;

/// Runs the demo; `keep` leaves the throw-away home in place.
pub fn run(keep: bool) -> anyhow::Result<ExitCode> {
    let ipc = locate_binary("ipc", "carapace-ipc")?;
    locate_binary("carapace-plugin-echo", "carapace-plugin-echo")?;
    let dir = tempfile::Builder::new()
        .prefix("carapace-demo-")
        .tempdir_in("/tmp")
        .context("cannot make a throw-away home")?;
    let home = Home::at(dir.path().to_owned());
    let defaults = crate::runtime::RuntimeConfig::default();
    let container =
        super::demo_container::prepare(&home, &ipc, (defaults.agent_uid, defaults.agent_gid));
    let mut config = DEMO_CONFIG.to_owned();
    if let super::demo_container::Readiness::Ready { config: extra } = &container {
        config.push_str(extra);
    }
    std::fs::write(home.config_file(), config)?;
    println!(
        "== Carapace demo on a throw-away home: {}",
        home.root().display()
    );
    let mut core = CoreProcess::start(&home)?;
    let outcome = drive(&home, &ipc).and_then(|()| match &container {
        super::demo_container::Readiness::Ready { .. } => super::demo_container::run(&home),
        super::demo_container::Readiness::Missing(what) => {
            println!("\n== skipped: an agent session in a container: {what}");
            Ok(())
        }
    });
    core.stop();
    outcome?;
    println!("\n== carapace audit verify");
    let report = crate::audit::verify(&home.audit_dir(), &home.audit_key())?;
    match &report.first_break {
        None => println!(
            "audit chain intact: {} lines in {} files",
            report.lines, report.files
        ),
        Some(b) => println!(
            "audit chain BROKEN at {} line {}: {}",
            b.file.display(),
            b.line,
            b.reason
        ),
    }
    if keep {
        let kept = dir.keep();
        println!("\nkept the demo home at {}", kept.display());
    }
    Ok(if report.first_break.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn drive(home: &Home, ipc: &Path) -> anyhow::Result<()> {
    let session = client::request(
        &home.control_socket(),
        &ControlRequest::SessionOpen {
            group: "assistant".into(),
            trust: Trust::Unknown,
        },
        super::CONTROL_TIMEOUT,
    )?;
    let socket = session
        .get("socket")
        .and_then(|s| s.as_str())
        .context("the core did not return a socket")?
        .to_owned();
    println!("opened session {} for group `assistant`", session["id"]);
    println!("socket: {socket}\n");
    let steps: [(&str, &[&str]); 5] = [
        ("an allowed call", &["get_session_info"]),
        (
            "a refused extra field",
            &["list_tools", r#"{"verbose":true}"#],
        ),
        ("a tool the group may not call", &["get_diagnostics"]),
        (
            "the second and third calls still pass (burst 3)",
            &["get_session_info"],
        ),
        ("", &["get_session_info"]),
    ];
    for (what, args) in steps {
        run_ipc(ipc, &socket, what, args)?;
    }
    run_ipc(
        ipc,
        &socket,
        "the fourth trips the rate limit",
        &["get_session_info"],
    )?;
    run_ipc(
        ipc,
        &socket,
        "a plugin call: the echo plugin runs as its own process",
        &["echo", r#"{"text":"hello from the sandbox"}"#],
    )?;
    let token = format!("ghp_{}", random_alphanumeric(36));
    let leaky = serde_json::json!({ "text": format!("the deploy token is {token}") }).to_string();
    run_ipc(
        ipc,
        &socket,
        "a credential-shaped string comes back redacted",
        &["echo", &leaky],
    )?;
    decide_high_risk(home, ipc, &socket, true)?;
    decide_high_risk(home, ipc, &socket, false)?;
    Ok(())
}

/// Calls the high-risk `echo_sensitive`, waits for it to be pending, then approves or denies it.
fn decide_high_risk(home: &Home, ipc: &Path, socket: &str, approve: bool) -> anyhow::Result<()> {
    let what = if approve { "approved" } else { "denied" };
    let text = format!("a high-risk call the user {what}");
    let arguments = serde_json::json!({ "text": text }).to_string();
    let call = {
        let (ipc, socket, arguments) = (ipc.to_owned(), socket.to_owned(), arguments.clone());
        std::thread::spawn(move || {
            Command::new(ipc)
                .args(["echo_sensitive", &arguments])
                .env("CARAPACE_IPC_SOCKET", socket)
                .env("CARAPACE_IPC_TIMEOUT", "30")
                .output()
        })
    };
    let started = Instant::now();
    let pending = loop {
        let list = client::request(
            &home.control_socket(),
            &ControlRequest::ConfirmList,
            super::CONTROL_TIMEOUT,
        )?;
        if let Some(first) = list.as_array().and_then(|a| a.first()).cloned() {
            break first;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(20),
            "the high-risk call never became pending"
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    let id = pending["id"].as_str().unwrap_or_default().to_owned();
    println!(
        "-- {text}\n$ ipc echo_sensitive {}",
        shell_quote(&arguments)
    );
    println!(
        "   (waiting) carapace confirm list: {} tool={} group={} arguments={}",
        id, pending["tool"], pending["group"], pending["arguments"]
    );
    println!(
        "   carapace confirm {} {id}",
        if approve { "approve" } else { "deny" }
    );
    client::request(
        &home.control_socket(),
        &ControlRequest::ConfirmDecide { id, approve },
        super::CONTROL_TIMEOUT,
    )?;
    let output = call
        .join()
        .map_err(|_| anyhow::anyhow!("the ipc thread failed"))??;
    print_output(&output);
    Ok(())
}

fn random_alphanumeric(len: usize) -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn print_output(output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stdout.trim().is_empty() {
        println!("stdout: {}", stdout.trim());
    }
    if !stderr.trim().is_empty() {
        println!("stderr: {}", stderr.trim());
    }
    println!("exit {}\n", output.status.code().unwrap_or(-1));
}

fn run_ipc(ipc: &Path, socket: &str, what: &str, args: &[&str]) -> anyhow::Result<()> {
    if !what.is_empty() {
        println!("-- {what}");
    }
    println!(
        "$ ipc {}",
        args.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = Command::new(ipc)
        .args(args)
        .env("CARAPACE_IPC_SOCKET", socket)
        .env("CARAPACE_IPC_TIMEOUT", "10")
        .output()
        .with_context(|| format!("cannot run {}", ipc.display()))?;
    print_output(&output);
    Ok(())
}

fn shell_quote(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A workspace binary next to this executable, built with cargo when missing
/// (`cargo run` only builds `carapace` itself). `$CARAPACE_IPC_BIN` overrides `ipc`.
fn locate_binary(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    if name == "ipc" {
        if let Some(path) = std::env::var_os("CARAPACE_IPC_BIN") {
            return Ok(PathBuf::from(path));
        }
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name(name);
    if sibling.is_file() {
        return Ok(sibling);
    }
    let missing =
        || format!("cannot find `{name}` next to carapace; install it beside the carapace binary");
    let cargo = std::env::var_os("CARGO").with_context(missing)?;
    let source = crate::source_tree::root().with_context(missing)?;
    let release = exe
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "release");
    println!("== building {name} (cargo build -p {package})");
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", package, "--bin", name])
        .current_dir(source);
    if release {
        build.arg("--release");
    }
    let status = build.status()?;
    anyhow::ensure!(
        status.success() && sibling.is_file(),
        "building {name} failed"
    );
    Ok(sibling)
}

/// The core as a child process, stopped on drop.
struct CoreProcess {
    child: Child,
    home: Home,
}

impl CoreProcess {
    fn start(home: &Home) -> anyhow::Result<CoreProcess> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .arg("--home")
            .arg(home.root())
            .arg("start")
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start the core")?;
        let mut process = CoreProcess {
            child,
            home: home.clone(),
        };
        let started = Instant::now();
        loop {
            let asked = client::request(
                &home.control_socket(),
                &ControlRequest::Status,
                Duration::from_secs(1),
            );
            if asked.is_ok() {
                return Ok(process);
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                anyhow::bail!("the core exited during start ({status})");
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(20),
                "the core did not start within 20 s"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn stop(&mut self) {
        let _ = client::request(
            &self.home.control_socket(),
            &ControlRequest::Stop,
            Duration::from_secs(5),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CoreProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}
