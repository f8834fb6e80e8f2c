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
    // The reload goes through (it used to fail for every plugin); the linked one is refused.
    reload(&core);
    let manifest = evil.join("manifest.json").display().to_string();
    let shown = plugin_status(&core, "evil-manifest");
    assert_eq!(shown["state"], "failed", "{shown}");
    let problem = shown["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains(&manifest) && problem.contains("symbolic link"),
        "{problem}"
    );
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

/// `carapace plugin validate DIR`: (success, stdout + stderr).
fn validate(core: &TestCore, dir: &Path) -> (bool, String) {
    let out = core.cli(&["plugin", "validate", &dir.display().to_string()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn one_bad_plugin_folder_is_refused_alone_and_the_core_serves_the_rest() {
    let plugins = common::plugins_dir();
    secret_plugin(plugins.path(), "good", false);
    let linked = secret_plugin(plugins.path(), "evil-linked", false);
    let outside = plugins.path().join("outside.json");
    std::fs::rename(linked.join("manifest.json"), &outside).expect("move");
    link(&outside, &linked.join("manifest.json"));
    let big = secret_plugin(plugins.path(), "evil-big", false);
    std::fs::write(big.join("manifest.json"), vec![b' '; 10 << 20]).expect("10 MiB manifest");
    secret_plugin(plugins.path(), "model", false);
    secret_plugin(plugins.path(), "Bad_Name", false);
    // Thousands of entries in skills/ (none a skill): the directory is not read to its end.
    let crowded = secret_plugin(plugins.path(), "evil-crowded", false);
    for i in 0..5000 {
        std::fs::write(crowded.join(format!("skills/junk-{i}")), "").expect("junk");
    }

    // Present at start: the core starts (it used to exit), and says why each is refused.
    let core = core_with_plugins(plugins.path());
    assert_eq!(plugin_status(&core, "good")["state"], "running");
    let reasons: [(&str, PathBuf, &str); 5] = [
        ("evil-linked", linked.join("manifest.json"), "symbolic link"),
        ("evil-big", big.join("manifest.json"), "bytes"),
        (
            "model",
            plugins.path().join("model"),
            "reserved by the core",
        ),
        (
            "Bad_Name",
            plugins.path().join("Bad_Name"),
            "must match [a-z][a-z0-9_-]{0,63}",
        ),
        ("evil-crowded", crowded.join("skills"), "entries"),
    ];
    for (name, path, why) in &reasons {
        let shown = plugin_status(&core, name);
        assert_eq!(shown["state"], "failed", "{shown}");
        assert_eq!(shown["category"], "CONFIG_ERROR", "{shown}");
        let problem = shown["problem"].as_str().unwrap_or_default();
        assert!(
            problem.contains(&path.display().to_string()) && problem.contains(why),
            "{name}: {problem}"
        );
    }
    // The good plugin serves calls; none of the refused ones has a tool.
    let session = core.open_session("main");
    let echoed = session
        .ipc(&["good_echo", r#"{"text":"still here"}"#])
        .result();
    assert!(echoed.to_string().contains("still here"), "{echoed}");
    let tools = session.ipc(&["list_tools"]).result().to_string();
    for refused in [
        "evil_linked_",
        "evil_big_",
        "model_",
        "Bad_Name_",
        "evil_crowded_",
    ] {
        assert!(!tools.contains(refused), "{refused} in {tools}");
    }
    let doctor = doctor_plugins(&core);
    assert_eq!(doctor["status"], "fail", "{doctor}");
    for (name, _, why) in &reasons {
        let detail = doctor["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("plugin {name}:")) && detail.contains(why),
            "{name}: {doctor}"
        );
    }
    for (name, path, why) in &reasons {
        let (ok, text) = validate(&core, &plugins.path().join(name));
        assert!(!ok, "{name} validated");
        if *name != "Bad_Name" {
            assert!(
                text.contains(&path.display().to_string()) && text.contains(why),
                "{name}: {text}"
            );
        }
    }
    // And a reload with them all still goes through.
    reload(&core);
    assert_eq!(plugin_status(&core, "good")["state"], "running");
}

#[test]
fn skill_directories_that_would_collide_refuse_the_later_plugin() {
    let plugins = common::plugins_dir();
    let mail = secret_plugin(plugins.path(), "mail", false);
    std::fs::write(
        mail.join("skills/read-inbox.md"),
        "# The mail plugin's inbox\n",
    )
    .expect("skill");
    let intruder = secret_plugin(plugins.path(), "mail-read", false);
    std::fs::write(intruder.join("skills/inbox.md"), "# Not mail's inbox\n").expect("skill");
    let core = core_with_plugins(plugins.path());

    assert_eq!(plugin_status(&core, "mail")["state"], "running");
    let shown = plugin_status(&core, "mail-read");
    assert_eq!(shown["state"], "failed", "{shown}");
    let problem = shown["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("mail-read-inbox")
            && problem.contains("plugin `mail`")
            && problem.contains(&intruder.join("skills/inbox.md").display().to_string()),
        "{problem}"
    );
    let skill = core.home.path().join("run/skills/mail-read-inbox/SKILL.md");
    let text = std::fs::read_to_string(&skill).expect("mail's skill");
    assert!(text.contains("The mail plugin's inbox"), "{text}");
    assert!(!text.contains("Not mail's inbox"), "{text}");
    let doctor = doctor_plugins(&core);
    assert!(
        doctor["detail"]
            .as_str()
            .is_some_and(|d| d.contains("plugin mail-read:") && d.contains("mail-read-inbox")),
        "{doctor}"
    );
}
