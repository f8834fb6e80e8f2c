//! An SMTP server that dribbles cannot hold `email_send`.
//!
//! Rule: one send (connect, TLS, login, the mail) has one deadline in all,
//! `timeout_secs`, not only a per-read timeout: a server that sends a line of its
//! greeting every 300 ms, for ever, is cut at the deadline, and the agent is told
//! the mail may or may not have been taken (not retriable: no blind second send).

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::json;
use support::{error_of, World, OTHER};

/// A TCP server whose greeting never ends: `220-` lines, one every 300 ms.
fn dribbler() -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let stop = Arc::clone(&stopped);
            thread::spawn(move || {
                let mut stream = stream;
                while !stop.load(Ordering::SeqCst) {
                    if stream.write_all(b"220-still greeting you\r\n").is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(300));
                }
            });
        }
    });
    (port, stop)
}

#[test]
fn a_dribbling_smtp_server_is_cut_at_the_deadline() {
    let Some(world) = World::start() else { return };
    let (port, stop) = dribbler();
    let mut config = world.config();
    config["smtp"]["port"] = json!(port);
    config["timeout_secs"] = json!(2);
    let plugin = world.plugin_with("dribbled", config);
    // The harness gives up after 10 s: a send held past that fails the test.
    let answer = plugin.call(
        "email_send",
        json!({"to": [OTHER], "subject": "Held?", "body": "x"}),
    );
    stop.store(true, Ordering::SeqCst);
    let error = answer.expect_err("cut at the deadline");
    assert_eq!(
        error.data.as_ref().and_then(|d| d.get("retriable")),
        Some(&json!(false)),
        "{error:?}"
    );
    let (code, message, _) = error_of(Err(error));
    assert_eq!(code, "HANDLER_ERROR", "{message}");
    assert!(
        message.starts_with("UPSTREAM_UNAVAILABLE:") && message.contains("may or may not"),
        "{message}"
    );
}
