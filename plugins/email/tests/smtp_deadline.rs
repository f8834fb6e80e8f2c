//! An SMTP server can neither hold `email_send` nor fill the plugin's memory, and
//! the agent is told whether a failed send may be tried again.
//!
//! Rules:
//! - one send (connect, TLS, login, the mail) has one deadline in all,
//!   `timeout_secs`, not only a per-read timeout;
//! - before MAIL FROM nothing was sent: a failure there (a server that dribbles
//!   its greeting for ever) is retriable;
//! - once the mail was on its way, a cut (here: the server's answer to the mail
//!   never arrives, though it took the mail) is "may or may not", not retriable;
//! - the plugin reads at most `smtp::capped::MAX_SESSION_BYTES` of one session:
//!   a greeting that never ends its line is refused long before the deadline.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use support::proxy::Proxy;
use support::{error_of, World, OTHER, USER};

/// A TCP server that writes `chunk` every `pause`, for ever, to each client;
/// counts the bytes it got out.
fn talker(chunk: &'static [u8], pause: Duration) -> (u16, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let (stopped, count) = (Arc::clone(&stop), Arc::clone(&written));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (stop, count) = (Arc::clone(&stopped), Arc::clone(&count));
            thread::spawn(move || {
                let mut stream = stream;
                while !stop.load(Ordering::SeqCst) {
                    if stream.write_all(chunk).is_err() {
                        return;
                    }
                    count.fetch_add(chunk.len(), Ordering::SeqCst);
                    thread::sleep(pause);
                }
            });
        }
    });
    (port, stop, written)
}

fn retriable(error: &carapace_plugin_sdk::JsonRpcError) -> Option<bool> {
    error
        .data
        .as_ref()
        .and_then(|d| d.get("retriable"))
        .and_then(serde_json::Value::as_bool)
}

#[test]
fn a_dribbling_greeting_is_cut_at_the_deadline_and_may_be_retried() {
    let Some(world) = World::start() else { return };
    let (port, stop, _) = talker(b"220-still greeting you\r\n", Duration::from_millis(300));
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
    assert_eq!(retriable(&error), Some(true), "nothing was sent: {error:?}");
    let (code, message, _) = error_of(Err(error));
    assert_eq!(code, "HANDLER_ERROR", "{message}");
    assert!(message.starts_with("UPSTREAM_UNAVAILABLE:"), "{message}");
}

#[test]
fn an_endless_greeting_line_is_refused_after_a_bounded_read() {
    let Some(world) = World::start() else { return };
    // 64 KiB of a greeting line that never ends, as fast as the plugin reads.
    static CHUNK: [u8; 64 << 10] = [b'a'; 64 << 10];
    let (port, stop, written) = talker(&CHUNK, Duration::ZERO);
    let mut config = world.config();
    config["smtp"]["port"] = json!(port);
    config["timeout_secs"] = json!(8);
    let plugin = world.plugin_with("endless", config);
    let started = Instant::now();
    let answer = plugin.call(
        "email_send",
        json!({"to": [OTHER], "subject": "Endless?", "body": "x"}),
    );
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let error = answer.expect_err("refused");
    assert_eq!(retriable(&error), Some(true), "{error:?}");
    // Read until the deadline, the plugin would have taken gigabytes; it stops at
    // 1 MiB (plus what the kernel's socket buffers hold).
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 16 << 20, "the server got {sent} bytes out");
    assert!(
        took < Duration::from_secs(8),
        "refused at the cap, not the deadline"
    );
}

#[test]
fn a_mail_whose_answer_is_lost_is_not_retriable_though_it_was_taken() {
    let Some(world) = World::start() else { return };
    let proxy = Proxy::start(world.smtp.port);
    let mut config = world.config();
    config["smtp"]["port"] = json!(proxy.port);
    config["sent_folder"] = json!("");
    let plugin = world.plugin_with("lost-250", config);
    // The greeting, EHLO, STARTTLS, the handshake and AUTH are a few KB from the
    // plugin; the mail (a 40 KB body) passes the count: the server takes it, and
    // its 250 is cut on the way back.
    *proxy.cut_answer_after.lock().expect("arm") = Some(12_000);
    let body = "A long line of the mail body, repeated.\n".repeat(1_000);
    let answer = plugin.call(
        "email_send",
        json!({"to": [OTHER], "subject": "Lost 250", "body": body}),
    );
    let error = answer.expect_err("cut");
    assert_eq!(retriable(&error), Some(false), "{error:?}");
    let (_, message, _) = error_of(Err(error));
    assert!(message.contains("may or may not"), "{message}");
    // The server did take it: a retry would have sent it twice.
    let delivered = (0..50).find_map(|_| {
        let found = world.messages(OTHER, "INBOX");
        if found.is_empty() {
            thread::sleep(Duration::from_millis(100));
            None
        } else {
            Some(found.len())
        }
    });
    assert_eq!(delivered, Some(1));
    assert!(world.messages(USER, "INBOX").is_empty());
}

#[test]
fn a_send_ends_before_the_cores_deadline() {
    let Some(world) = World::start() else { return };
    let (port, stop, _) = talker(b"220-still greeting you\r\n", Duration::from_millis(300));
    let mut config = world.config();
    config["smtp"]["port"] = json!(port);
    config["timeout_secs"] = json!(8);
    let plugin = world.plugin_with("core-deadline", config);
    // The core waits 3 s: the plugin answers before that, not at its own 8 s.
    let started = Instant::now();
    let answer = plugin.call_with_deadline(
        "email_send",
        json!({"to": [OTHER], "subject": "In time?", "body": "x"}),
        json!(3_000),
    );
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let error = answer.expect_err("cut at the core's deadline");
    assert_eq!(retriable(&error), Some(true), "nothing was sent: {error:?}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
}
