//! A server that drops the connection: between calls (the kept session is
//! replaced transparently), in the middle of every command (a retriable error,
//! promptly, and no call left stuck), and malformed MIME read without a fault.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use carapace_plugin_sdk::testing::Harness;
use serde_json::json;
use support::proxy::Proxy;
use support::{mail, World, USER};

fn through(world: &World, proxy: &Proxy, name: &str) -> Harness {
    let mut config = world.config();
    config["imap"]["port"] = json!(proxy.port);
    world.plugin_with(name, config)
}

#[test]
fn a_connection_cut_between_calls_is_replaced_and_one_cut_mid_command_is_retriable() {
    let Some(world) = World::start() else { return };
    world.append(
        USER,
        "INBOX",
        &mail("a@example.test", "Still here", "x"),
        false,
    );
    let proxy = Proxy::start(world.dovecot.imaps_port);
    let plugin = through(&world, &proxy, "cut");
    plugin.call("email_search", json!({})).expect("first");
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        1,
        "one session kept for both"
    );
    proxy.cut();
    let found = plugin
        .call("email_search", json!({}))
        .expect("after the cut: reconnected");
    assert_eq!(found["messages"][0]["subject"], "Still here");
    assert_eq!(proxy.accepted.load(Ordering::SeqCst), 2);

    // From now on a connection dies at the client's next bytes: the kept session in
    // the middle of its next command, the reconnection in its TLS handshake.
    proxy.drop_on_command.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let error = plugin.call("email_search", json!({})).expect_err("dropped");
    assert!(error.retriable(), "{error:?}");
    assert!(
        error.message.starts_with("UPSTREAM_UNAVAILABLE"),
        "{}",
        error.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // The server comes back: the next call works.
    proxy.drop_on_command.store(false, Ordering::SeqCst);
    plugin.call("email_search", json!({})).expect("back");
}

#[test]
fn malformed_mime_is_read_without_a_fault() {
    let Some(world) = World::start() else { return };
    let broken = [
        "From: a@example.test\r\nSubject: No end\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhalf a part",
        "From: a@example.test\r\nSubject: =?utf-8?b?!!!invalid===?=\r\nContent-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@ not base64 @@@\r\n",
        "From: \r\nSubject: \r\nContent-Type: text/html\r\n\r\n<html><body><p>unclosed <b>tags <script>x(",
        "Subject: nested\r\nContent-Type: multipart/mixed; boundary=\"A\"\r\n\r\n--A\r\nContent-Type: multipart/mixed; boundary=\"A\"\r\n\r\n--A\r\n--A--\r\n",
        "no header at all, just text\r\n",
    ];
    for raw in broken {
        world.append(USER, "INBOX", raw.as_bytes(), false);
    }
    let plugin = world.plugin();
    let found = plugin.call("email_search", json!({})).expect("search");
    assert_eq!(found["total"], broken.len());
    for message in found["messages"].as_array().expect("messages") {
        let read = plugin
            .call("email_read", json!({"id": message["id"]}))
            .expect("read");
        assert!(read["body"].is_string(), "{read}");
    }
}
