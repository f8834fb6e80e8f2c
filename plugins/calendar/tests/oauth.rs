//! OAuth2 against a real radicale that takes only bearer tokens (a small auth plugin
//! of radicale's own API) and a loopback token endpoint that rotates the refresh
//! token on every use: the email plugin's credential keys (`oauth2_refresh_token`,
//! `oauth2_client_id`) and config (`oauth2.token_url`).
//!
//! Rule: the plugin refreshes once and reuses the access token while it lives; a
//! rotated refresh token survives a restart (the stored one is spent); an access
//! token the server stops taking is refreshed and the call goes through; a revoked
//! refresh token is AUTH_ERROR at initialize; no token is in an answer.

mod support;

use carapace_plugin_sdk::testing::token_endpoint::{Grants, TokenEndpoint};
use serde_json::json;
use support::{Plugin, Radicale};

const CLIENT: &str = "carapace-calendar-test";

fn config(server: &Radicale, endpoint: &TokenEndpoint) -> serde_json::Value {
    json!({"url": format!("{}/", server.url), "auth": "oauth2", "oauth2": {"token_url": endpoint.token_url()},
           "time_zone": "Europe/Berlin"})
}

/// A token endpoint for [`CLIENT`] first taking `refresh_token`, whose access
/// tokens go where the bearer radicale reads them.
fn endpoint(refresh_token: &str, server: &Radicale) -> TokenEndpoint {
    TokenEndpoint::start_with(Grants {
        client_id: CLIENT.into(),
        refresh_token: refresh_token.into(),
        user: "alice".into(),
        expires_in: 3600,
        tokens_file: Some(server.dir.path().join("tokens")),
        ..Grants::default()
    })
}

#[test]
fn a_refreshed_bearer_token_reads_and_writes_and_its_rotation_survives_a_restart() {
    let Some(server) = Radicale::start_bearer() else {
        return;
    };
    server.mkcalendar("work", "Work");
    let stored = format!("rt-0-{}", support::random_hex(8));
    let endpoint = endpoint(&stored, &server);
    let dir = tempfile::tempdir().expect("dir");
    let credentials = [
        ("password", "unused"),
        ("oauth2_refresh_token", stored.as_str()),
        ("oauth2_client_id", CLIENT),
    ];
    let (plugin, init) = Plugin::start_in(dir.path(), config(&server, &endpoint), &credentials);
    assert_eq!(init, Ok(json!({})));
    let listed = plugin.call("calendar_list", json!({})).expect("list");
    assert_eq!(listed["calendars"][0]["name"], "Work");
    let made = plugin
        .call(
            "calendar_create_event",
            json!({"title": "Bearer works", "start": "2026-12-10T10:00", "end": "2026-12-10T11:00", "tz": "Europe/Berlin"}),
        )
        .expect("create");
    assert!(
        !made.to_string().contains("at-"),
        "a token in the answer: {made}"
    );
    assert_eq!(
        endpoint.grants.lock().expect("grants").issued,
        1,
        "one refresh, then the cache"
    );

    // The server stops taking that access token: one refresh, and the call goes through.
    std::fs::write(server.dir.path().join("tokens"), "").expect("revoke access tokens");
    let events = plugin
        .call(
            "calendar_list_events",
            json!({"from": "2026-12-10", "to": "2026-12-10"}),
        )
        .expect("list events");
    assert_eq!(events["events"][0]["title"], "Bearer works");
    assert_eq!(endpoint.grants.lock().expect("grants").issued, 2);
    drop(plugin);

    // A restart with the same stored (now spent) credential uses the rotated token.
    let (plugin, init) = Plugin::start_in(dir.path(), config(&server, &endpoint), &credentials);
    assert_eq!(init, Ok(json!({})));
    assert!(plugin.call("calendar_list", json!({})).is_ok());
    let grants = endpoint.grants.lock().expect("grants");
    assert_eq!((grants.issued, grants.refused), (3, 0));
}

#[test]
fn a_revoked_refresh_token_is_an_auth_error_at_initialize() {
    let Some(server) = Radicale::start_bearer() else {
        return;
    };
    server.mkcalendar("work", "Work");
    let endpoint = endpoint("rt-the-endpoint-knows", &server);
    let dir = tempfile::tempdir().expect("dir");
    let (_plugin, init) = Plugin::start_in(
        dir.path(),
        config(&server, &endpoint),
        &[
            ("password", "unused"),
            ("oauth2_refresh_token", "rt-revoked"),
            ("oauth2_client_id", CLIENT),
        ],
    );
    let err = init.expect_err("revoked");
    assert_eq!(err.data_str("category"), Some("AUTH_ERROR"), "{err:?}");
    assert!(err.message.contains("carapace auth login"), "{err:?}");
    assert!(!err.message.contains("rt-revoked"));
    // Basic is refused by this server: the plugin cannot fall back to the password.
    let plugin = Plugin::start(
        json!({"url": format!("{}/", server.url), "username": "alice"}),
        "unused",
    );
    assert_eq!(
        plugin.init.expect_err("basic refused").data_str("category"),
        Some("AUTH_ERROR")
    );
}
