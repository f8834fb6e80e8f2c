//! Issue 12, finding 1: what a plugin folder supplies is read beneath it, never
//! through a link. A real core, real plugin processes and the real skills
//! assembly; every secret is made at run time.

mod common;

use std::path::{Path, PathBuf};

use common::{files_under, random_hex, secret_plugin, TestCore, BASIC_CONFIG};
use serde_json::Value;

/// A core with `BASIC_CONFIG` and the plugins of `dir`.
fn core_with_plugins(dir: &Path) -> TestCore {
    TestCore::start(&format!(
        "{BASIC_CONFIG}\n[plugins]\ndirs = [\"{}\"]\n",
        dir.display()
    ))
}

/// The plugin named `name` in `status --json`.
fn plugin_status(core: &TestCore, name: &str) -> Value {
    let status = core.cli_json(&["status", "--json"]);
    status["plugins"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no plugin {name} in {status}"))
}

/// `carapace reload`, which must succeed.
fn reload(core: &TestCore) {
    let out = core.cli(&["reload"]);
    assert!(
        out.status.success(),
        "reload: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        core.log()
    );
}

/// The `plugins` check of `carapace doctor --json`.
fn doctor_plugins(core: &TestCore) -> Value {
    let out = core.cli(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "plugins").cloned())
        .unwrap_or_else(|| panic!("no plugins check: {report}"))
}

/// Replaces `path` with a symbolic link to `target`.
fn link(target: &Path, path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).expect("rm dir");
    } else {
        let _ = std::fs::remove_file(path);
    }
    std::os::unix::fs::symlink(target, path).expect("symlink");
}

/// Asserts no file under `dir` holds any of `secrets`.
fn holds_none(dir: &Path, secrets: &[(&str, &[u8])]) {
    for (path, bytes) in files_under(dir) {
        for (what, secret) in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == *secret),
                "{what} is in {}",
                path.display()
            );
        }
    }
}

#[test]
fn skills_linked_to_secrets_refuse_their_plugin_and_reach_no_skill() {
    let plugins = common::plugins_dir();
    secret_plugin(plugins.path(), "good", true);
    let core = core_with_plugins(plugins.path());
    let home = core.home.path().to_path_buf();
    let model_key = common::generated_model_key();
    let good_token = format!("good-{}", random_hex(16));
    let other_secret = format!("other-{}", random_hex(16));
    core.auth_set("model", "anthropic_api_key", &model_key);
    core.auth_set("good", "token", &good_token);
    core.auth_set("good", "leak.md", &other_secret);
    let audit_key = std::fs::read(home.join("keys/audit.key")).expect("audit key");

    // Relative: skills/ -> plugin -> plugins dir -> /tmp, where the home is too.
    let home_name = home
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let rel = PathBuf::from(format!("../../../{home_name}/keys/model/anthropic_api_key"));
    let cases: [(&str, PathBuf, &str); 4] = [
        ("evil-rel", rel, "skills/leak.md"),
        ("evil-abs", home.join("keys/audit.key"), "skills/leak.md"),
        (
            "evil-other",
            home.join("credentials/good/token"),
            "skills/leak.md",
        ),
        ("evil-dir", home.join("credentials/good"), "skills"),
    ];
    for (name, target, file) in &cases {
        let folder = secret_plugin(plugins.path(), name, false);
        link(target, &folder.join(file));
    }
    let big = secret_plugin(plugins.path(), "big", false);
    std::fs::write(big.join("skills/huge.md"), "# huge\n".repeat(50_000)).expect("huge");
    reload(&core);

    assert_eq!(plugin_status(&core, "good")["state"], "running");
    for (name, _, file) in &cases {
        let shown = plugin_status(&core, name);
        assert_eq!(shown["state"], "failed", "{shown}");
        assert_eq!(shown["category"], "CONFIG_ERROR", "{shown}");
        let problem = shown["problem"].as_str().unwrap_or_default();
        let path = plugins.path().join(name).join(file);
        assert!(
            problem.contains(&path.display().to_string()) && problem.contains("symbolic link"),
            "{name}: {problem}"
        );
    }
    let shown = plugin_status(&core, "big");
    assert_eq!(shown["state"], "failed", "{shown}");
    assert!(
        shown["problem"]
            .as_str()
            .is_some_and(|p| p.contains("huge.md") && p.contains("bytes")),
        "{shown}"
    );
    // The agent sees the failure, not the host's paths.
    let info = core
        .open_session("main")
        .ipc(&["get_session_info"])
        .result();
    let seen = info.to_string();
    assert!(
        seen.contains("evil-rel") && seen.contains("CONFIG_ERROR"),
        "{seen}"
    );
    assert!(
        !seen.contains(&plugins.path().display().to_string()),
        "{seen}"
    );
    let doctor = doctor_plugins(&core);
    assert_eq!(doctor["status"], "fail", "{doctor}");
    for name in ["evil-rel", "evil-abs", "evil-other", "evil-dir", "big"] {
        assert!(
            doctor["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("plugin {name}:"))),
            "{doctor}"
        );
    }

    let skills = home.join("run/skills");
    assert!(
        skills.join("good-hello/SKILL.md").is_file(),
        "the good plugin's skill is assembled"
    );
    let assembled: Vec<String> = std::fs::read_dir(&skills)
        .expect("skills")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        assembled
            .iter()
            .all(|n| !n.starts_with("evil") && !n.starts_with("big")),
        "{assembled:?}"
    );
    let audit_text = String::from_utf8_lossy(&audit_key).trim().to_owned();
    let secrets: [(&str, &[u8]); 4] = [
        ("the model key", model_key.as_bytes()),
        ("the audit key", audit_text.as_bytes()),
        ("another plugin's credential", good_token.as_bytes()),
        ("another plugin's credential file", other_secret.as_bytes()),
    ];
    holds_none(&skills, &secrets);
    let log = core.log();
    for (what, secret) in secrets {
        assert!(
            !log.contains(&*String::from_utf8_lossy(secret)),
            "{what} is in the log"
        );
    }
}

#[test]
fn a_linked_manifest_is_refused_by_name_and_nothing_changes() {
    let plugins = common::plugins_dir();
    secret_plugin(plugins.path(), "good", false);
    let core = core_with_plugins(plugins.path());
    // A valid manifest, kept outside the folder and linked in.
    let evil = secret_plugin(plugins.path(), "evil-manifest", false);
    let outside = plugins.path().join("outside.json");
    std::fs::rename(evil.join("manifest.json"), &outside).expect("move");
    link(&outside, &evil.join("manifest.json"));
    let out = core.cli(&["reload"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a linked manifest was loaded");
    let manifest = evil.join("manifest.json").display().to_string();
    assert!(
        stderr.contains("evil-manifest") && stderr.contains(&manifest),
        "{stderr}"
    );
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(plugin_status(&core, "good")["state"], "running");
    let status = core.cli_json(&["status", "--json"]);
    assert!(!status.to_string().contains("evil_manifest_reveal"));
    let doctor = doctor_plugins(&core);
    assert_eq!(doctor["status"], "fail", "{doctor}");
    assert!(
        doctor["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&manifest)),
        "{doctor}"
    );
}
