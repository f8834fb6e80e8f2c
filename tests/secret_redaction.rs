//! Issue 12, finding 6: a plugin's answer, error and stderr never carry a stored
//! secret, in any encoding, nor the credential formats the sanitizer used to
//! miss. A real core and a real plugin process; every secret is made at run time.

mod common;

use std::path::Path;

use carapace::sanitize::codec::{base64_encode, Alphabet};
use common::{random_hex, secret_plugin, TestCore, TestSession, BASIC_CONFIG};
use serde_json::{json, Value};

/// Standard padded base64.
fn b64(data: &[u8]) -> String {
    base64_encode(data, Alphabet::Standard)
}

/// The value and every encoding of it that must never be answered.
fn forms(value: &str) -> Vec<String> {
    let url = |s: String| s.replace('+', "-").replace('/', "_");
    let bytes = value.as_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let percent: String = bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    vec![
        value.to_owned(),
        b64(bytes),
        b64(bytes).trim_end_matches('=').to_owned(),
        url(b64(bytes)),
        url(b64(bytes)).trim_end_matches('=').to_owned(),
        hex.to_ascii_uppercase(),
        hex,
        percent,
    ]
}

/// A value with characters every encoding changes.
fn fresh_value() -> String {
    format!("Vt/{}+{} q", random_hex(8), random_hex(8))
}

/// A core with the `vault` plugin holding `token` = `value`, and a session of `main`.
fn core_with_vault(value: &str) -> (TestCore, TestSession, tempfile::TempDir) {
    let plugins = common::plugins_dir();
    secret_plugin(plugins.path(), "vault", true);
    let core = TestCore::start(&config_for(plugins.path()));
    core.auth_set("vault", "token", value);
    let out = core.cli(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session = core.open_session("main");
    (core, session, plugins)
}

fn config_for(plugins: &Path) -> String {
    format!(
        "{BASIC_CONFIG}\n[plugins]\ndirs = [\"{}\"]\n",
        plugins.display()
    )
}

/// Asserts `text` holds no form of `value`.
fn holds_no_form(what: &str, text: &str, value: &str) {
    for form in forms(value) {
        assert!(!text.contains(&form), "{what} holds {form:?}: {text}");
    }
}

fn placeholder(kind: &str) -> Value {
    json!(format!("[REDACTED:{kind}]"))
}

#[test]
fn a_plugin_answer_with_stored_secrets_and_missed_shapes_is_redacted() {
    let value = fresh_value();
    let (core, session, _plugins) = core_with_vault(&value);
    let model_key = common::generated_model_key();
    core.auth_set("model", "anthropic_api_key", &model_key);

    let answer = session.ipc(&["vault_reveal"]);
    let result = answer.result();
    holds_no_form("the answer", &answer.stdout, &value);
    let known = placeholder("stored_secret");
    for field in [
        "raw",
        "base64",
        "base64_unpadded",
        "base64url",
        "base64url_unpadded",
        "hex",
        "HEX",
        "percent",
        "percent_all",
    ] {
        assert_eq!(result["forms"][field], known, "{field}: {result}");
    }
    assert_eq!(
        result["forms"]["in_text"],
        json!("the token is [REDACTED:stored_secret], keep it safe")
    );
    assert!(
        result["forms"]["basic_blob"]
            .as_str()
            .is_some_and(|b| b.contains("[REDACTED:")),
        "{result}"
    );
    let shapes = &result["shapes"];
    for (field, kind) in [
        ("slack_app", "slack_token"),
        ("slack_config", "slack_token"),
        ("slack_rotated", "slack_token"),
        ("stripe_webhook", "stripe_webhook_secret"),
        ("telegram", "telegram_bot_token"),
        ("huggingface", "huggingface_token"),
        ("sendgrid", "sendgrid_api_key"),
        ("github_base64", "github_token"),
        ("github_hex", "github_token"),
        ("bearer_percent", "bearer_token"),
    ] {
        assert_eq!(shapes[field], placeholder(kind), "{field}: {shapes}");
    }
    for line in shapes["pem_lines"].as_array().expect("lines") {
        assert_eq!(line, &placeholder("private_key"), "{shapes}");
    }
    assert_eq!(
        shapes["env"][0]["value"],
        placeholder("credential_pair"),
        "{shapes}"
    );
    assert_eq!(shapes["env"][0]["name"], "X_PASSWORD");

    // The model key's encodings, wherever they come from.
    let echoed = session.ipc(&[
        "vault_echo",
        &json!({"text": format!("key {}", b64(model_key.as_bytes()))}).to_string(),
    ]);
    assert_eq!(
        echoed.result()["text"],
        json!("key [REDACTED:stored_secret]")
    );

    // The plugin's error reaches the agent and the audit log; its stderr the log.
    let failed = session.ipc(&["vault_fail"]);
    let error = failed.error();
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("[REDACTED:stored_secret]")),
        "{error}"
    );
    holds_no_form("the error", &failed.stderr, &value);
    let events = core.wait_for_audit("the failed call", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "handler.result" && e["ok"] == false)
    });
    let audit = serde_json::to_string(&events).expect("json");
    holds_no_form("the audit log", &audit, &value);
    let raw_audit = core.cli(&["audit", "tail", "-n", "100000", "--json"]);
    holds_no_form(
        "the audit log",
        &String::from_utf8_lossy(&raw_audit.stdout),
        &value,
    );
    assert!(core.log().contains("plugin stderr"), "{}", core.log());
    holds_no_form("the core's log", &core.log(), &value);
    holds_no_form("the core's log", &core.log(), &model_key);
}

#[test]
fn a_value_set_while_the_core_runs_is_redacted_without_a_restart() {
    let first = fresh_value();
    let (core, session, _plugins) = core_with_vault(&first);
    let pid = core.pid();
    let before = session.ipc(&["vault_reveal"]);
    assert_eq!(
        before.result()["forms"]["raw"],
        placeholder("stored_secret")
    );
    let second = fresh_value();
    core.auth_set("vault", "token", &second);
    // Whatever copy of its credentials the handler reads, an answer carries the new value.
    let text = format!("new {second} and {}", b64(second.as_bytes()));
    let echoed = session.ipc(&["vault_echo", &json!({ "text": text }).to_string()]);
    assert_eq!(
        echoed.result()["text"],
        json!("new [REDACTED:stored_secret] and [REDACTED:stored_secret]")
    );
    holds_no_form("the answer", &echoed.stdout, &second);
    // The value replaced is still redacted: a running handler may still hold it.
    let after = session.ipc(&["vault_reveal"]);
    let result = after.result();
    assert_eq!(
        result["forms"]["raw"],
        placeholder("stored_secret"),
        "{result}"
    );
    holds_no_form("the answer", &after.stdout, &second);
    holds_no_form("the answer", &after.stdout, &first);
    assert_eq!(core.pid(), pid, "the core was not restarted");
}

/// Percent encoding as Python's `urllib.parse.quote` does it: `/` left as it is.
fn python_quote(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn one_field_of_a_stored_credential_file_is_redacted_in_any_encoding() {
    // An OAuth client file over 2 KiB; its secret has `/` and `+` (AWS style).
    let client_secret = format!("Ab/{}+{}/Zq", random_hex(12), random_hex(6));
    let refresh_token = format!("1//{}", random_hex(20));
    let file = json!({
        "installed": {"client_id": format!("{}.apps", random_hex(10)),
            "client_secret": client_secret, "notes": "n".repeat(2500)},
        "refresh_token": refresh_token,
    });
    let (_core, session, _plugins) = core_with_vault(&file.to_string());
    let text = format!(
        "secret {client_secret} b64 {} url https://h/cb?k={}&x=1 token {}",
        b64(client_secret.as_bytes()),
        python_quote(&client_secret),
        python_quote(&refresh_token),
    );
    let echoed = session.ipc(&["vault_echo", &json!({ "text": text }).to_string()]);
    let known = "[REDACTED:stored_secret]";
    assert_eq!(
        echoed.result()["text"],
        json!(format!(
            "secret {known} b64 {known} url https://h/cb?k={known}&x=1 token {known}"
        )),
        "{}",
        echoed.stdout
    );
    holds_no_form("the answer", &echoed.stdout, &client_secret);
    holds_no_form("the answer", &echoed.stdout, &refresh_token);
}
