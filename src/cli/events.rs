//! `carapace events`: follow the event bus, filtered by topic prefix.

use std::process::ExitCode;

use anyhow::Context;

use crate::paths::Home;

/// Prints events as they are published until interrupted.
pub fn run(home: &Home, prefixes: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let path = home.events_socket();
    anyhow::ensure!(
        path.exists(),
        "the core is not running (no {}); start it with `carapace start`",
        path.display()
    );
    let context = zmq::Context::new();
    let subscriber = context.socket(zmq::SUB)?;
    subscriber.connect(&format!("ipc://{}", path.display()))?;
    if prefixes.is_empty() {
        subscriber.set_subscribe(b"")?;
    }
    for prefix in prefixes {
        subscriber.set_subscribe(prefix.as_bytes())?;
    }
    loop {
        let frames = subscriber.recv_multipart(0).context("event bus")?;
        let [topic, payload] = frames.as_slice() else {
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
