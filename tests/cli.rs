//! The CLI's own commands: config, doctor, status, completions.
//!
//! Rule: a bad config is refused with the key and the file named, and nothing
//! the CLI changes loses the user's comments or leaves the file invalid.

mod common;

use std::process::Command;

use common::{carapace_bin, TestCore, BASIC_CONFIG};

fn run(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(carapace_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run carapace")
}

#[test]
fn config_set_get_show_keep_the_file_valid_and_commented() {
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        "# my settings\n[core]\ntool_deadline_secs = 30 # default\n",
    )
    .expect("write");
    assert!(run(
        home.path(),
        &["config", "set", "core.tool_deadline_secs", "12"]
    )
    .status
    .success());
    let got = run(home.path(), &["config", "get", "core.tool_deadline_secs"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "12");
    let text = std::fs::read_to_string(&config).expect("read");
    assert!(text.starts_with("# my settings\n"), "{text}");
    let bad = run(
        home.path(),
        &["config", "set", "core.tool_deadline_secs", "soon"],
    );
    assert!(!bad.status.success());
    let unknown = run(home.path(), &["config", "set", "core.typo", "1"]);
    assert!(!unknown.status.success());
    assert_eq!(
        std::fs::read_to_string(&config).expect("read"),
        text,
        "refused edits change nothing"
    );
    let show = run(home.path(), &["config", "show"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("tool_deadline_secs = 12"));
}

#[test]
fn an_invalid_config_names_the_key_and_the_file_and_the_core_refuses_to_start() {
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("config.toml"),
        "[groups.main]\ntools = \"*\"\n",
    )
    .expect("write");
    let out = run(home.path(), &["start"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("groups.main.tools"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
    let doctor = run(home.path(), &["doctor", "--json"]);
    assert!(!doctor.status.success());
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).expect("doctor JSON");
    let config_check = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "config"))
        .expect("a config check");
    assert_eq!(config_check["status"], "fail");
    assert!(config_check["fix"].is_string());
}

#[test]
fn doctor_flags_a_home_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().expect("home");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let doctor = run(home.path(), &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).expect("doctor JSON");
    let check = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "home"))
        .expect("home check");
    assert_eq!(check["status"], "fail");
    assert!(check["fix"].as_str().unwrap_or("").starts_with("chmod 700"));
}

/// Rule: a plugin test hook in `config.toml` (the scheduler's `test_clock`,
/// `test_hold_*`) is a warning of `carapace doctor`, naming it.
#[test]
fn doctor_warns_of_plugin_test_hooks() {
    let home = tempfile::tempdir().expect("home");
    let check = |config: &str| {
        std::fs::write(home.path().join("config.toml"), config).expect("config");
        let doctor = run(home.path(), &["doctor", "--json"]);
        let report: serde_json::Value =
            serde_json::from_slice(&doctor.stdout).expect("doctor JSON");
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "test hooks"))
            .cloned()
            .expect("test hooks check")
    };
    let clean = check(
        "[groups.main]\ntools = [\"*\"]\n[plugins.scheduler]\nconfig = { max_catch_up = 3 }\n",
    );
    assert_eq!(clean["status"], "ok", "{clean}");
    let hooked = check(
        "[groups.main]\ntools = [\"*\"]\n[plugins.scheduler]\nconfig = { test_clock = true, test_hold_after_ack_ms = 0 }\n",
    );
    assert_eq!(hooked["status"], "warn", "{hooked}");
    let detail = hooked["detail"].as_str().unwrap_or("");
    assert!(detail.contains("scheduler.test_clock"), "{hooked}");
    assert!(
        !detail.contains("test_hold_after_ack_ms"),
        "a hold of 0 is off: {hooked}"
    );
}

#[test]
fn status_reports_a_running_core_and_completions_print() {
    let core = TestCore::start(BASIC_CONFIG);
    let status = core.cli_json(&["status", "--json"]);
    assert_eq!(status["sessions"], 0);
    assert_eq!(status["tools"], 3);
    core.open_session("main");
    assert_eq!(core.cli_json(&["status", "--json"])["sessions"], 1);
    let completions = Command::new(carapace_bin())
        .args(["completions", "bash"])
        .output()
        .expect("completions");
    assert!(String::from_utf8_lossy(&completions.stdout).contains("carapace"));
}

#[test]
fn the_control_socket_is_owner_only_and_a_session_socket_reaches_only_the_agent_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    let meta = |p: &std::path::Path| std::fs::metadata(p).expect("stat");
    let mode = |p: &std::path::Path| meta(p).permissions().mode() & 0o777;
    assert_eq!(mode(&core.home.path().join("run/control.sock")), 0o600);
    assert_eq!(mode(&core.home.path().join("keys/audit.key")), 0o600);
    let dir = session.socket.parent().expect("dir");
    if meta(dir).uid() == 0 {
        // Rootful: the agent's group (runtime.agent_gid, 100000) may search the dir
        // and connect to the socket; nobody else may, and it may not list or replace.
        assert_eq!((mode(dir), meta(dir).gid()), (0o710, 100000));
        assert_eq!(
            (mode(&session.socket), meta(&session.socket).gid()),
            (0o660, 100000)
        );
    } else {
        assert_eq!(mode(dir), 0o700);
        assert_eq!(mode(&session.socket), 0o600);
    }
}

#[test]
fn doctor_asks_the_engine_rather_than_trusting_a_binary_on_path() {
    let home = tempfile::tempdir().expect("home");
    let empty = tempfile::tempdir().expect("empty PATH dir");
    let docker_stub = empty.path().join("docker");
    // A client that exists but whose engine never answers, like docker without a daemon.
    std::fs::write(
        &docker_stub,
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n",
    )
    .expect("stub");
    std::fs::set_permissions(
        &docker_stub,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let out = Command::new(carapace_bin())
        .arg("--home")
        .arg(home.path())
        .args(["doctor", "--json"])
        .env("PATH", empty.path())
        .output()
        .expect("doctor");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let check = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "runtime"))
        .expect("runtime check");
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["detail"].as_str().unwrap_or("").contains("docker"),
        "{check}"
    );
}

#[test]
fn check_config_names_the_bad_key_and_refuses_a_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |file: &std::path::Path| {
        std::process::Command::new(common::carapace_bin())
            .arg("check-config")
            .arg(file)
            .output()
            .expect("carapace check-config")
    };
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[groups.main]\ntools = [\"*\"]\n").expect("write");
    let out = run(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[agent]\nidle_timeout_secs = \"soon\"\n").expect("write");
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("agent.idle_timeout_secs") && stderr.contains("bad.toml"),
        "{stderr}"
    );
    let out = run(&dir.path().join("absent.toml"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.toml"));
}
