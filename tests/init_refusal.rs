//! A handler that refuses `initialize` says why, and the person reads it in
//! `carapace status` and `carapace doctor`; the agent never does.
//!
//! Rule: the handler's words are redacted before they are cut to 512
//! characters (a credential that straddles the cut leaves no fragment), and
//! escaped where a terminal prints them (no control character reaches it).
//! Seen failing with `init_detail` cutting before redacting: 10 characters
//! of the token after its prefix stayed in `problem`; and with `status`
//! printing it raw: the escape sequence reached the terminal.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{auth_set_at, plugins_dir, random_hex, TestCore};
use serde_json::{json, Value};

/// A handler that reads its credential and refuses `initialize` with `prefix`
/// characters of text, the credential, an escape sequence and more text.
const HANDLER: &str = r#"#!/usr/bin/env python3
import json, os, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("method") == "initialize":
        with open(os.path.join(os.environ["CARAPACE_CREDENTIALS_DIR"], "token")) as f:
            token = f.read()
        text = "p" * PREFIX_CHARS + " " + token + " \x1b[2J\x07 after the token"
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": {
            "code": -32000, "message": text, "data": {"category": "AUTH_ERROR"}}}) + "\n")
        sys.stdout.flush()
"#;

fn refusing_plugin(parent: &Path, prefix_chars: usize) {
    let folder = parent.join("refuser");
    std::fs::create_dir_all(&folder).expect("folder");
    let closed = json!({"type": "object", "additionalProperties": false, "properties": {}});
    let manifest = json!({
        "description": "Refuses to start.", "version": "0.1.0", "handler": "handler.py",
        "credentials": ["token"],
        "provides": {"tools": [{"name": "refuser_x", "description": "Never served.",
                                "arguments_schema": closed}]},
    });
    std::fs::write(folder.join("manifest.json"), manifest.to_string()).expect("manifest");
    let handler = HANDLER.replace("PREFIX_CHARS", &prefix_chars.to_string());
    std::fs::write(folder.join("handler.py"), handler).expect("handler");
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(folder.join("handler.py"), executable).expect("chmod");
}

fn failed_status(core: &TestCore) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = core.cli_json(&["status", "--json"]);
        let plugin = status["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "refuser").cloned());
        if let Some(plugin) = plugin.filter(|p| p["state"] == "failed") {
            return plugin;
        }
        assert!(Instant::now() < deadline, "never failed: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_refused_initialize_is_shown_redacted_and_escaped() {
    // `ghp_` and 36 alphanumerics, made now: a token shape the sanitizer knows,
    // and the plugin's own credential besides.
    let token = format!("ghp_{}", &random_hex(18).to_uppercase()[..36]);
    // The token starts 14 characters before the cut at 512: cut first, `ghp_` and
    // 10 more would stay, a fragment no pattern knows.
    for prefix_chars in [497, 100] {
        let plugins = plugins_dir();
        refusing_plugin(plugins.path(), prefix_chars);
        let mut core = TestCore::prepare(
            &format!(
                "[groups.main]\ntools = [\"*\"]\n[plugins]\ndirs = [\"{}\"]\n",
                plugins.path().display()
            ),
            false,
        );
        let out = auth_set_at(core.home.path(), "refuser", "token", &token);
        assert!(out.status.success(), "{out:?}");
        core.launch();

        let shown = failed_status(&core);
        assert_eq!(shown["category"], "AUTH_ERROR", "{shown}");
        let problem = shown["problem"].as_str().expect("a problem");
        assert!(problem.starts_with(&"p".repeat(50)), "{problem}");
        assert!(problem.chars().count() <= 512, "{}", problem.len());
        assert!(!problem.contains(&token[4..10]), "a fragment: {problem}");
        if prefix_chars == 100 {
            assert!(problem.contains("after the token"), "{problem}");
        }

        for args in [&["status"][..], &["doctor"][..]] {
            let out = core.cli(args);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(&"p".repeat(50)), "{args:?}: {text}");
            assert!(!text.contains(&token[4..10]), "{args:?}: {text}");
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{args:?} printed a control character: {text:?}"
            );
        }
        // The agent is told the plugin is unavailable, not what it said.
        let info = core
            .open_session("main")
            .ipc(&["get_session_info"])
            .result();
        assert!(!info.to_string().contains(&"p".repeat(50)), "{info}");
    }
}
