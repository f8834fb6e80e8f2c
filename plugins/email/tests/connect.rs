//! Logging in and connecting: STARTTLS and implicit TLS with a CA made at run time,
//! a certificate from another CA refused, a wrong password failing `initialize`
//! with AUTH_ERROR, a server that is down or goes away answering a retriable error.

mod support;

use carapace_plugin_email::EmailHandler;
use carapace_plugin_sdk::testing::Harness;
use serde_json::json;
use support::{mail, World, USER};

fn init_failure(
    answer: Result<serde_json::Value, carapace_plugin_sdk::JsonRpcError>,
) -> (String, String) {
    let error = answer.expect_err("initialize fails");
    (
        error.data_str("category").unwrap_or("").to_owned(),
        error.message,
    )
}

#[test]
fn starttls_imap_logs_in_and_searches() {
    let Some(world) = World::start() else { return };
    world.append(
        USER,
        "INBOX",
        &mail("a@example.test", "Via STARTTLS", "x"),
        false,
    );
    let mut config = world.config();
    config["imap"]["port"] = json!(world.dovecot.imap_port);
    config["imap"]["security"] = json!("starttls");
    let plugin = world.plugin_with("starttls", config);
    let found = plugin.call("email_search", json!({})).expect("search");
    assert_eq!(found["messages"][0]["subject"], "Via STARTTLS");
}

#[test]
fn a_wrong_password_fails_initialize_with_auth_error() {
    let Some(world) = World::start() else { return };
    let plugin = Harness::start(EmailHandler::new());
    let (category, message) = init_failure(plugin.initialize_with(world.init_params(
        "wrong",
        world.config(),
        &[("password", "not-the-password")],
    )));
    assert_eq!(category, "AUTH_ERROR");
    assert!(!message.contains("not-the-password"), "{message}");
    let plugin = Harness::start(EmailHandler::new());
    let (category, _) =
        init_failure(plugin.initialize_with(world.init_params("none", world.config(), &[])));
    assert_eq!(category, "AUTH_ERROR");
}

/// Rule: a certificate the configured CA did not sign is refused, whichever way TLS starts.
#[test]
fn a_certificate_from_another_ca_is_refused() {
    let Some(world) = World::start() else { return };
    for (security, port) in [
        ("tls", world.dovecot.imaps_port),
        ("starttls", world.dovecot.imap_port),
    ] {
        let mut config = world.config();
        config["imap"]["ca_file"] = json!(world.certs.other_ca);
        config["imap"]["security"] = json!(security);
        config["imap"]["port"] = json!(port);
        let plugin = Harness::start(EmailHandler::new());
        let (category, message) = init_failure(plugin.initialize_with(world.init_params(
            security,
            config,
            &[("password", &world.dovecot.password(USER))],
        )));
        assert_eq!(category, "NETWORK_ERROR", "{security}: {message}");
        assert!(message.contains("TLS"), "{security}: {message}");
    }
    // The web roots do not know the test CA either.
    let mut config = world.config();
    config["imap"]
        .as_object_mut()
        .expect("imap")
        .remove("ca_file");
    let plugin = Harness::start(EmailHandler::new());
    let (category, _) = init_failure(plugin.initialize_with(world.init_params(
        "webroots",
        config,
        &[("password", &world.dovecot.password(USER))],
    )));
    assert_eq!(category, "NETWORK_ERROR");
    // insecure is accepted for loopback only (and then connects).
    let mut config = world.config();
    config["imap"]["ca_file"] = json!(world.certs.other_ca);
    config["imap"]["insecure"] = json!(true);
    world.plugin_with("insecure", config.clone());
    config["imap"]["host"] = json!("imap.example.com");
    let plugin = Harness::start(EmailHandler::new());
    let (category, message) = init_failure(plugin.initialize_with(world.init_params(
        "insecure2",
        config,
        &[("password", "x")],
    )));
    assert_eq!(category, "CONFIG_ERROR");
    assert!(message.contains("imap.insecure"), "{message}");
}

#[test]
fn a_server_that_is_down_or_goes_away_answers_a_retriable_error() {
    let Some(mut world) = World::start() else {
        return;
    };
    let plugin = world.plugin();
    plugin
        .call("email_search", json!({}))
        .expect("search while up");
    world.dovecot.stop();
    let error = plugin
        .call("email_search", json!({}))
        .expect_err("server gone");
    assert!(
        error.message.starts_with("UPSTREAM_UNAVAILABLE"),
        "{}",
        error.message
    );
    assert!(error.retriable());
    assert_eq!(error.data_str("code"), Some("HANDLER_ERROR"));
    // Started while the server is down: initialize succeeds, calls say so.
    let mut config = world.config();
    config["imap"]["port"] = json!(support::free_port());
    let plugin = Harness::start(EmailHandler::new());
    plugin
        .initialize_with(world.init_params("down", config, &[("password", "x")]))
        .expect("initialize while down");
    let error = plugin
        .call("email_read", json!({"id": "INBOX/1/1"}))
        .expect_err("down");
    assert!(
        error.message.starts_with("UPSTREAM_UNAVAILABLE"),
        "{}",
        error.message
    );
}
