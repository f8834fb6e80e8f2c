//! `carapace plugin new|validate|test` against real folders and real handlers.
//!
//! Rule: a folder the core would refuse at startup is refused here too, with
//! the offending path named; `plugin test` starts the real handler and fails
//! when an example does not answer.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{carapace_bin, fixture_plugins};

fn carapace(args: &[&str]) -> Output {
    Command::new(carapace_bin())
        .args(args)
        .output()
        .expect("run carapace")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn validate_accepts_good_folders_and_names_what_is_wrong() {
    let pytools = fixture_plugins().join("pytools");
    let out = carapace(&["plugin", "validate", pytools.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = tempfile::tempdir().expect("tempdir");
    let open = root.path().join("loose");
    std::fs::create_dir_all(&open).expect("mkdir");
    std::fs::write(
        open.join("manifest.json"),
        r#"{"description":"d","version":"0.1.0","handler":"x","provides":{"tools":[
            {"name":"t","description":"d","arguments_schema":{"type":"object","additionalProperties":false,
             "properties":{"inner":{"type":"object"}}}}]}}"#,
    )
    .expect("manifest");
    let out = carapace(&["plugin", "validate", open.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/properties/inner"), "{err}");
    let bad_name = root.path().join("Bad_Name");
    copy_dir(&pytools, &bad_name);
    assert!(
        !carapace(&["plugin", "validate", bad_name.to_str().expect("utf8")])
            .status
            .success()
    );
}

#[test]
fn test_runs_the_real_handler_and_its_examples() {
    let pytools = fixture_plugins().join("pytools");
    let out = carapace(&["plugin", "test", pytools.to_str().expect("utf8"), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(out.status.success(), "{report:#}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"py_echo: schema refuses a __proto__ key"),
        "{names:?}"
    );
    assert!(names.contains(&"py_echo: example 1 answers"), "{names:?}");
    // An example the handler refuses fails the run.
    let root = tempfile::tempdir().expect("tempdir");
    let broken = root.path().join("pytools");
    copy_dir(&pytools, &broken);
    let manifest_path = broken.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("read")).expect("json");
    let tools = manifest["provides"]["tools"].as_array_mut().expect("tools");
    let fail = tools
        .iter_mut()
        .find(|t| t["name"] == "fail")
        .expect("fail tool");
    fail["examples"] = serde_json::json!([{}]);
    std::fs::write(&manifest_path, manifest.to_string()).expect("write");
    let out = carapace(&["plugin", "test", broken.to_str().expect("utf8"), "--json"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] == false)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(failed, ["fail: example 1 answers"]);
}

#[test]
fn the_bundled_echo_plugin_passes_conformance() {
    let echo = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/echo");
    let out = carapace(&["plugin", "test", echo.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn new_scaffolds_a_folder_that_validates() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = carapace(&[
        "plugin",
        "new",
        "weather",
        "--dir",
        root.path().to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = root.path().join("weather");
    for file in [
        "manifest.json",
        "skills/hello.md",
        "Cargo.toml",
        "src/main.rs",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let out = carapace(&["plugin", "validate", dir.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = carapace(&[
        "plugin",
        "new",
        "weather",
        "--dir",
        root.path().to_str().expect("utf8"),
    ]);
    assert!(
        !again.status.success(),
        "an existing folder is never overwritten"
    );
    assert!(!carapace(&[
        "plugin",
        "new",
        "../escape",
        "--dir",
        root.path().to_str().expect("utf8")
    ])
    .status
    .success());
}

/// `plugin test --json NAME` run from a directory without such a folder.
fn test_bundled(name: &str) -> (serde_json::Value, bool) {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = Command::new(carapace_bin())
        .args(["plugin", "test", "--json", name])
        .current_dir(elsewhere.path())
        .output()
        .expect("run carapace");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{name}: no JSON report: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.success())
}

fn check_ok(report: &serde_json::Value, name: &str) -> bool {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .any(|c| c["name"] == name && c["ok"] == true)
}

#[test]
fn an_unconfigured_bundled_plugin_says_what_it_needs_and_still_answers_initialize() {
    let (report, passed) = test_bundled("email");
    assert!(!passed, "{report:#}");
    let needs = report["needs_configuration"].as_str().expect("needs");
    // Its credentials depend on its sign-in mode, so they are optional: what
    // it needs first is a config.
    assert!(
        needs.contains("\"address\" is a required property"),
        "{needs}"
    );
    assert!(!needs.contains("auth set"), "{needs}");
    // Its handler was started bare, and answered `initialize` itself.
    assert!(
        check_ok(&report, "handler starts and answers initialize"),
        "{report:#}"
    );
    let detail = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "configured, so its examples can run")
        .and_then(|c| c["detail"].as_str())
        .unwrap_or_default();
    assert!(detail.contains("it answered CONFIG_ERROR"), "{detail}");
}

#[test]
fn examples_run_inside_a_session_as_the_core_runs_them() {
    // memory records who stored an entry: a call that names no session is refused.
    // Its examples build on each other on a fresh memory (store, correct entry 1,
    // delete entry 2, promote entry 3), so every one passes.
    let (report, passed) = test_bundled("memory");
    assert!(passed, "{report:#}");
    assert!(
        check_ok(&report, "memory_promote: example 1 answers"),
        "{report:#}"
    );
    let (report, passed) = test_bundled("scheduler");
    assert!(passed, "{report:#}");
}
