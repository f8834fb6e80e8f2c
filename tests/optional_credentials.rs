//! A plugin may declare credentials it uses only when they are stored
//! (`optional_credentials`, e.g. one per sign-in mode): a missing one disables
//! nothing, a stored one is handed over like a required one (also in the
//! private copy made under systemd), and an undeclared one never is.
//!
//! Seen failing before the manifest knew `optional_credentials`: the plugin
//! did not load at all (an unknown manifest field), so an OAuth2 email setup
//! had to store a dummy `password`.

mod common;

use std::path::Path;

use common::{auth_set_at, plugins_dir, TestCore};
use serde_json::{json, Value};

/// Answers `initialize`, and `optcred_list` with the names it was handed.
const HANDLER: &str = r#"#!/usr/bin/env python3
import json, os, sys
def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
for line in sys.stdin:
    msg = json.loads(line)
    method = msg.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
    elif method == "tool/call":
        folder = os.environ.get("CARAPACE_CREDENTIALS_DIR")
        names = sorted(os.listdir(folder)) if folder else []
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {"names": names}})
    elif "id" in msg:
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
"#;

fn plugin(parent: &Path) {
    let folder = parent.join("optc");
    std::fs::create_dir_all(&folder).expect("folder");
    let closed = json!({"type": "object", "additionalProperties": false, "properties": {}});
    let manifest = json!({
        "description": "Lists its credentials.", "version": "0.1.0", "handler": "handler.py",
        "credentials": ["token"],
        "optional_credentials": ["extra", "absent"],
        "provides": {"tools": [{"name": "optcred_list", "description": "Names handed over.",
                                "arguments_schema": closed}]},
    });
    std::fs::write(folder.join("manifest.json"), manifest.to_string()).expect("manifest");
    std::fs::write(folder.join("handler.py"), HANDLER).expect("handler");
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(folder.join("handler.py"), executable).expect("chmod");
}

fn core(plugins: &Path) -> TestCore {
    TestCore::prepare(
        &format!(
            "[groups.main]\ntools = [\"*\"]\n[plugins]\ndirs = [\"{}\"]\n[plugins.optc]\nenabled = true\n",
            plugins.display()
        ),
        false,
    )
}

fn handed(core: &TestCore) -> Value {
    core.open_session("main").ipc(&["optcred_list"]).result()["names"].clone()
}

#[test]
fn optional_credentials_are_handed_over_when_stored_and_missing_ones_disable_nothing() {
    let plugins = plugins_dir();
    plugin(plugins.path());

    // The required one only: running, and it sees only that one.
    let mut only_required = core(plugins.path());
    let home = only_required.home.path().to_path_buf();
    assert!(auth_set_at(&home, "optc", "token", "required-value-1")
        .status
        .success());
    only_required.launch();
    only_required.wait_plugin("optc", "running");
    assert_eq!(handed(&only_required), json!(["token"]));
    let listed =
        String::from_utf8_lossy(&only_required.cli(&["auth", "status"]).stdout).into_owned();
    assert!(listed.contains("optc/token: present (0600)"), "{listed}");
    assert!(listed.contains("optc/extra: absent (optional)"), "{listed}");
    assert!(
        !listed
            .lines()
            .any(|l| l.starts_with("optc/") && l.contains("MISSING")),
        "{listed}"
    );
    drop(only_required);

    // Both: both handed over.
    let mut both = core(plugins.path());
    let home = both.home.path().to_path_buf();
    assert!(auth_set_at(&home, "optc", "token", "required-value-2")
        .status
        .success());
    assert!(auth_set_at(&home, "optc", "extra", "optional-value-2")
        .status
        .success());
    both.launch();
    assert_eq!(handed(&both), json!(["extra", "token"]));
    drop(both);

    // The optional one without the required one: still AUTH_ERROR.
    let mut no_required = core(plugins.path());
    let home = no_required.home.path().to_path_buf();
    assert!(auth_set_at(&home, "optc", "extra", "optional-value-3")
        .status
        .success());
    no_required.launch();
    let failed = no_required.wait_plugin("optc", "failed");
    assert_eq!(failed["category"], "AUTH_ERROR", "{failed}");
}

#[test]
fn under_systemd_the_private_copy_holds_the_stored_optional_ones_and_nothing_undeclared() {
    let plugins = plugins_dir();
    plugin(plugins.path());
    let systemd = tempfile::tempdir().expect("credentials directory");
    for (file, value) in [
        ("optc.token", "required-value"),
        ("optc.extra", "optional-value"),
        ("optc.undeclared", "never-handed"),
    ] {
        std::fs::write(systemd.path().join(file), value).expect("credential");
    }
    let mut core = core(plugins.path());
    core.env
        .push(("CREDENTIALS_DIRECTORY".into(), systemd.path().to_path_buf()));
    core.launch();
    core.wait_plugin("optc", "running");
    assert_eq!(handed(&core), json!(["extra", "token"]));
}
