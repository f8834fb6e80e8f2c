//! OAuth2: the plugin refreshes its access token at a loopback token endpoint
//! speaking real HTTP (which rotates the refresh token on every refresh), logs in to
//! dovecot with XOAUTH2 (dovecot's oauth2 passdb checks the bearer at the endpoint's
//! introspection URL) and submits with XOAUTH2 (the aiosmtpd relay's AUTH hook asks
//! the same URL); a revoked refresh token is AUTH_ERROR with the `auth login` hint.

mod support;

use std::os::unix::fs::PermissionsExt;

use carapace_plugin_email::EmailHandler;
use carapace_plugin_sdk::testing::token_endpoint::TokenEndpoint;
use carapace_plugin_sdk::testing::Harness;
use serde_json::{json, Value};
use support::{mail, random_text, World, OTHER, USER};

fn config(world: &World, oauth: &TokenEndpoint) -> Value {
    let mut config = world.config();
    config["auth"] = json!("oauth2");
    config["oauth2"] = json!({"token_url": oauth.token_url()});
    config
}

fn credentials(oauth: &TokenEndpoint) -> (String, String) {
    let grants = oauth.grants.lock().expect("grants");
    (grants.refresh_token.clone(), grants.client_id.clone())
}

/// A token endpoint for a client id and a first refresh token made now.
fn endpoint() -> TokenEndpoint {
    TokenEndpoint::start(&random_text(12), &random_text(32), USER)
}

#[test]
fn xoauth2_login_send_rotation_and_revocation() {
    let oauth = endpoint();
    let Some(world) = World::start_with(Some(&oauth.introspect_url())) else {
        return;
    };
    world.append(
        USER,
        "INBOX",
        &mail("a@example.test", "Via OAuth", "x"),
        false,
    );
    let (refresh, client_id) = credentials(&oauth);
    let files = [
        ("oauth2_refresh_token", refresh.as_str()),
        ("oauth2_client_id", client_id.as_str()),
    ];

    let plugin = Harness::start(EmailHandler::new());
    plugin
        .initialize_with(world.init_params("oauth", config(&world, &oauth), &files))
        .expect("initialize with XOAUTH2");
    let found = plugin.call("email_search", json!({})).expect("search");
    assert_eq!(found["messages"][0]["subject"], "Via OAuth");
    plugin
        .call(
            "email_send",
            json!({"to": [OTHER], "subject": "Sent with XOAUTH2", "body": "x"}),
        )
        .expect("send with XOAUTH2");
    // One refresh served IMAP and SMTP: the access token is cached until it expires.
    assert_eq!(oauth.grants.lock().expect("grants").issued, 1);
    assert!(world.dovecot.log().contains("method=XOAUTH2"));

    // The endpoint rotated the refresh token: the plugin kept the new one (0600).
    let kept = world.dir.path().join("oauth/data/oauth2_refresh_token");
    let text = std::fs::read_to_string(&kept).expect("rotated token kept");
    assert!(text.contains(&credentials(&oauth).0));
    assert_eq!(
        std::fs::metadata(&kept).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    plugin.shutdown().expect("shutdown");
    drop(plugin);

    // A restart uses the rotated token (the stored one is no longer accepted).
    let plugin = Harness::start(EmailHandler::new());
    plugin
        .initialize_with(world.init_params("oauth", config(&world, &oauth), &files))
        .expect("restart with the rotated token");
    assert_eq!(oauth.grants.lock().expect("grants").issued, 2);

    // Revoked: every refresh is invalid_grant, and issued tokens are dead.
    {
        let mut state = oauth.grants.lock().expect("grants");
        state.revoked = true;
        state.access.clear();
    }
    let error = plugin
        .call(
            "email_send",
            json!({"to": [OTHER], "subject": "x", "body": "x"}),
        )
        .expect_err("revoked");
    assert!(error.message.starts_with("AUTH_ERROR"), "{}", error.message);
    assert!(
        error.message.contains("carapace auth login --plugin email"),
        "{}",
        error.message
    );
    let plugin = Harness::start(EmailHandler::new());
    let error = plugin
        .initialize_with(world.init_params("oauth", config(&world, &oauth), &files))
        .expect_err("revoked at start");
    assert_eq!(error.data_str("category"), Some("AUTH_ERROR"));
    assert!(
        error.message.contains("carapace auth login --plugin email"),
        "{}",
        error.message
    );
    for (_, secret) in files {
        assert!(!error.message.contains(secret));
    }
}

#[test]
fn a_token_endpoint_that_is_down_or_refuses_the_client_is_a_structured_error() {
    let oauth = endpoint();
    let Some(world) = World::start_with(Some(&oauth.introspect_url())) else {
        return;
    };
    let (refresh, _) = credentials(&oauth);
    let wrong_client = [
        ("oauth2_refresh_token", refresh.as_str()),
        ("oauth2_client_id", "someone-else"),
    ];
    let plugin = Harness::start(EmailHandler::new());
    let error = plugin
        .initialize_with(world.init_params("client", config(&world, &oauth), &wrong_client))
        .expect_err("wrong client");
    assert_eq!(error.data_str("category"), Some("AUTH_ERROR"));
    let mut down = config(&world, &oauth);
    down["oauth2"]["token_url"] = json!(format!("http://127.0.0.1:{}/token", support::free_port()));
    let plugin = Harness::start(EmailHandler::new());
    plugin
        .initialize_with(world.init_params("down", down, &wrong_client))
        .expect("an unreachable endpoint does not fail initialize");
    let error = plugin.call("email_search", json!({})).expect_err("down");
    assert!(
        error.message.starts_with("UPSTREAM_UNAVAILABLE"),
        "{}",
        error.message
    );
    assert!(error.retriable());
}
