//! The built `carapace-plugin-telegram` binary, driven over its real stdin/stdout as
//! the core drives it (cleared environment, the data dir as working directory), against
//! the Bot API stand-in.
//!
//! Rules: the update offset survives a clean shutdown and a `kill -9` so that no
//! message is lost or handed to the core twice; and the bot token, made at run time,
//! appears in nothing the process writes (stdout lines, stderr) whatever fails: a
//! refused token, an unreachable server, 400, 429, 500, dropped connections.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use carapace_plugin_sdk::testing::HandlerChild;
use serde_json::{json, Value};
use support::{init_params, BotApi, Fault, OWNER};

/// The binary under test.
fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_carapace-plugin-telegram"))
}

/// A running handler and every stdout line it wrote so far.
struct Running {
    child: HandlerChild,
    seen: Vec<Value>,
    next_id: u64,
}

impl Running {
    /// Starts the binary on `dir` (stderr to `stderr`) and initializes it.
    fn start(dir: &Path, token: &str, config: Value, stderr: Stdio) -> Running {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let mut running = Running {
            child: HandlerChild::spawn(binary(), &data, stderr),
            seen: Vec::new(),
            next_id: 1,
        };
        let answer = running.request("initialize", init_params(dir, token, config));
        assert_eq!(answer["result"], json!({}), "{answer}");
        running
    }

    /// Sends a request and waits for its answer (notifications kept meanwhile).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.child.request(id, method, params);
        self.until(Duration::from_secs(20), |m| m["id"] == id)
            .expect("an answer")
    }

    /// Reads lines until one matches (`None` after `limit`).
    fn until(&mut self, limit: Duration, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(found) = self.seen.iter().find(|m| matches(m)) {
            return Some(found.clone());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let Ok(line) = self.child.lines.recv_timeout(left) else {
                return None;
            };
            let message: Value = serde_json::from_str(&line).expect("stdout holds JSON-RPC only");
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            self.seen.push(message.clone());
            if matches(&message) {
                return Some(message);
            }
        }
    }

    /// The `message.inbound` texts published so far.
    fn published(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|m| m["method"] == "event/publish")
            .filter_map(|m| m["params"]["payload"]["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits for `text` to be published.
    fn wait_published(&mut self, text: &str) {
        let found = self.until(Duration::from_secs(15), |m| {
            m["method"] == "event/publish" && m["params"]["payload"]["text"] == text
        });
        assert!(
            found.is_some(),
            "{text} never published; saw {:?}",
            self.seen
        );
    }
}

#[test]
fn the_offset_survives_a_shutdown_and_a_kill_without_loss_or_repeat() {
    let token = support::token();
    let api = BotApi::start(&token);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = support::config(&api.url);

    let mut first = Running::start(dir.path(), &token, config.clone(), Stdio::null());
    api.message(OWNER, OWNER, "Ann", "one");
    first.wait_published("one");
    assert_eq!(first.request("shutdown", json!({}))["result"], json!({}));
    first.child.close_input();
    first.child.wait_exit(Duration::from_secs(10));

    // Written while the plugin is down: not lost.
    api.message(OWNER, OWNER, "Ann", "two");
    let mut second = Running::start(dir.path(), &token, config.clone(), Stdio::null());
    second.wait_published("two");
    // Let the offset be written, then kill -9 while idle.
    std::thread::sleep(Duration::from_millis(500));
    let _ = second.child.child.kill();
    let _ = second.child.child.wait();
    api.message(OWNER, OWNER, "Ann", "three");

    let mut third = Running::start(dir.path(), &token, config, Stdio::null());
    third.wait_published("three");
    // Two more polls' worth of time: nothing old comes back.
    std::thread::sleep(Duration::from_millis(2500));
    let _ = third.until(Duration::from_millis(100), |_| false);
    assert_eq!(first.published(), ["one"]);
    assert_eq!(second.published(), ["two"]);
    assert_eq!(third.published(), ["three"], "nothing repeated");
    let stored = std::fs::read_to_string(dir.path().join("data/offset")).expect("offset file");
    let polls = api.calls_of("getUpdates");
    let last_offset = polls.last().expect("polled").params["offset"].as_i64();
    assert_eq!(stored.trim().parse::<i64>().ok(), last_offset);
    assert_eq!(
        api.unconfirmed(),
        0,
        "Telegram was told every update was handled"
    );
}

#[test]
fn the_token_appears_in_nothing_the_plugin_writes_whatever_fails() {
    let token = support::token();
    let secret_part = token
        .split_once(':')
        .map(|(_, s)| s.to_owned())
        .expect("token");
    let dir = tempfile::tempdir().expect("temp dir");
    let stderr_path = dir.path().join("stderr.log");
    let mut lines: Vec<Value> = Vec::new();

    // 1. A stand-in that does not know this token: every call is 401.
    let stranger = BotApi::start(&support::token());
    // 2. A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        url
    };
    // 3. A stand-in that knows the token but fails every way it can.
    let faulty = BotApi::start(&token);
    for method in ["sendMessage", "getUpdates", "getMe"] {
        faulty.fail_next(
            method,
            vec![
                Fault::BadRequest("Bad Request: can't parse entities".into()),
                Fault::RateLimited(1),
                Fault::ServerError,
                Fault::Hangup,
                Fault::BadRequest("Bad Request: chat not found".into()),
                Fault::ServerError,
                Fault::Hangup,
                Fault::Hangup,
            ],
        );
    }

    for (phase, url) in [
        ("401", &stranger.url),
        ("closed", &closed),
        ("faults", &faulty.url),
    ] {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .expect("stderr file");
        let phase_dir = dir.path().join(phase);
        let mut running = Running::start(
            &phase_dir,
            &token,
            support::config(url),
            Stdio::from(stderr),
        );
        // Tool calls that fail, and a tool that works only on the faulty stand-in.
        for text in ["a < b", "second try"] {
            let envelope = json!({"id": "r", "version": 1, "type": "request",
                "topic": "tool.invoke.send_telegram", "source": "session:s", "correlation": "c",
                "timestamp": "2026-12-03T10:00:00Z", "group": "main",
                "session": {"id": "s", "started_at": "2026-12-03T10:00:00Z"},
                "payload": {"arguments": {"chat": OWNER.to_string(), "text": text}}});
            running.request(
                "tool/call",
                json!({"tool": "send_telegram", "envelope": envelope}),
            );
        }
        // Polling fails and backs off for a while.
        std::thread::sleep(Duration::from_secs(4));
        let _ = running.until(Duration::from_millis(200), |_| false);
        let logs = running.seen.iter().filter(|m| m["method"] == "log").count();
        assert!(logs > 0, "phase {phase}: something was logged");
        lines.append(&mut running.seen);
    }

    let mut stderr = String::new();
    std::fs::File::open(&stderr_path)
        .and_then(|mut f| f.read_to_string(&mut stderr))
        .expect("stderr");
    let everything = format!(
        "{}\n{stderr}",
        lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        everything.contains("telegram.poll_failed"),
        "the failures were logged: {everything}"
    );
    for needle in [&token, &secret_part] {
        assert!(
            !everything.contains(needle.as_str()),
            "the token leaked:\n{everything}"
        );
    }
    assert!(
        !everything.contains("/bot"),
        "a request path leaked:\n{everything}"
    );
}
