//! A bundled plugin nobody set up (no `[plugins.<name>]` section, and config
//! keys or credentials it needs) is not started and is shown as "not
//! configured" with what it needs; it is no failure, so `doctor` on a fresh
//! home does not fail on it. Once configured, a wrong config fails loudly.
//!
//! Seen failing before: email and calendar were `failed (CONFIG_ERROR)` and
//! telegram `failed (AUTH_ERROR)` on a fresh home, and `doctor` failed.

mod common;

use common::TestCore;

#[test]
fn plugins_nobody_set_up_are_not_configured_not_failed_and_doctor_passes_them() {
    let core = TestCore::start_with_bundled("[groups.main]\ntools = [\"*\"]\n");
    for name in ["email", "calendar", "telegram"] {
        let plugin = core.wait_plugin(name, "not_configured");
        let problem = plugin["problem"].as_str().unwrap_or("");
        assert!(problem.starts_with("not configured:"), "{plugin}");
    }
    let email = core.wait_plugin("email", "not_configured")["problem"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        email.contains("a config") && email.contains("[plugins.email]"),
        "{email}"
    );
    let telegram = core.wait_plugin("telegram", "not_configured")["problem"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        telegram.contains("carapace auth set --plugin telegram bot_token"),
        "{telegram}"
    );
    // What needs nothing runs.
    core.wait_plugin("echo", "running");

    let text = String::from_utf8_lossy(&core.cli(&["status"]).stdout).into_owned();
    assert!(text.contains("plugin email: not configured"), "{text}");
    let doctor = core.cli(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    let line = report
        .lines()
        .find(|l| l.contains("] core"))
        .unwrap_or_default()
        .to_owned();
    assert!(line.starts_with("[ok"), "{report}");
    assert!(line.contains("not configured"), "{line}");
}

#[test]
fn a_configured_plugin_with_a_wrong_config_still_fails_loudly() {
    let core = TestCore::start_with_bundled(
        "[groups.main]\ntools = [\"*\"]\n[plugins.email.config]\naddress = \"me@example.org\"\n",
    );
    let email = core.wait_plugin("email", "failed");
    assert_eq!(email["category"], "CONFIG_ERROR", "{email}");
    let doctor = core.cli(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(
        report.lines().any(|l| l.starts_with("[fail] core")),
        "{report}"
    );
}
