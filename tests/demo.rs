//! The README's run command, end to end (`carapace demo`, here on the debug build).
//!
//! Rule: the demo shows each promised behaviour and ends with an intact audit chain.

mod common;

#[test]
fn the_demo_shows_every_step_and_verifies_the_audit_chain() {
    let out = std::process::Command::new(common::carapace_bin())
        .arg("demo")
        .env_remove("CARAPACE_BUNDLED_PLUGINS")
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "\"group\":\"assistant\"",
        "\"code\":\"VALIDATION_FAILED\"",
        "\"code\":\"UNAUTHORIZED\"",
        "\"code\":\"RATE_LIMITED\"",
        "{\"text\":\"hello from the sandbox\"}",
        "[REDACTED:github_token]",
        "{\"text\":\"a high-risk call the user approved\"}",
        "\"code\":\"CONFIRMATION_DENIED\"",
        "audit chain intact",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(
        !text.contains("ghp_") || text.matches("ghp_").count() == 1,
        "the token only appears in the request line"
    );
    // Where podman is installed the demo runs an agent in a container; elsewhere it says why not.
    let podman = std::process::Command::new("podman")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if podman {
        for expected in [
            "agent: ipc list_tools: echo echo_sensitive get_session_info list_tools",
            r#"agent: ipc echo answered: {"text":"hello from inside the container"}"#,
            "answer: done in a container as uid 100000 with network interfaces: lo",
        ] {
            assert!(text.contains(expected), "missing {expected} in:\n{text}");
        }
    } else {
        assert!(
            text.contains("== skipped: an agent session in a container: podman"),
            "{text}"
        );
    }
}
