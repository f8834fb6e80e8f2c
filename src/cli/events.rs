//! `carapace events`: follow the event bus, filtered by topic prefix, as a
//! ZeroMQ SUB peer of the core's PUB socket.

use std::process::ExitCode;

use std::os::unix::net::UnixStream;

use anyhow::Context;
use carapace_zmtp::client::ClientConnection;

use crate::paths::Home;

/// Largest event accepted from the bus.
const MAX_EVENT_BYTES: usize = 4 << 20;

/// Prints events as they are published until interrupted.
pub fn run(home: &Home, prefixes: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let path = home.events_socket();
    anyhow::ensure!(
        path.exists(),
        "the core is not running (no {}); start it with `carapace start`",
        path.display()
    );
    let stream = UnixStream::connect(&path)
        .with_context(|| format!("cannot connect to the event bus at {}", path.display()))?;
    let mut bus =
        ClientConnection::handshake(stream, "SUB", &["PUB", "XPUB"], MAX_EVENT_BYTES, None)
            .context("event bus handshake")?;
    let all = [String::new()];
    let wanted = if prefixes.is_empty() {
        &all[..]
    } else {
        prefixes
    };
    for prefix in wanted {
        // A ZMTP 3.0 subscription: 0x01, then the topic prefix.
        let mut subscribe = vec![1u8];
        subscribe.extend_from_slice(prefix.as_bytes());
        bus.send(&[&subscribe]).context("subscribing")?;
    }
    loop {
        let message = bus.receive().context("event bus")?;
        let [topic, payload] = message.frames.as_slice() else {
            continue;
        };
        let topic = String::from_utf8_lossy(topic);
        let payload: serde_json::Value =
            serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
        if json {
            println!(
                "{}",
                serde_json::json!({"topic": topic, "payload": payload})
            );
        } else {
            println!("{topic} {payload}");
        }
    }
}
