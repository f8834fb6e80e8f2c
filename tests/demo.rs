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
}
