//! The built `carapace-plugin-scheduler` binary driven as the core drives it
//! (JSON-RPC lines, a cleared environment), with the test clock: the instant
//! in `<data_dir>/clock`. Killed on drop.
//!
//! The harness answers the plugin's requests as the core would: each
//! acknowledged `event/publish` by [`Plugin::on_publish`] (by default: taken),
//! `scheduler/paused_groups` with [`Plugin::set_paused`] (by default: none, at
//! generation 0).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use carapace_plugin_sdk::testing::HandlerChild;
use serde_json::{json, Value};

/// How long a test waits for an answer.
pub const WAIT: Duration = Duration::from_secs(20);

/// A data dir with its test clock.
pub struct Home {
    /// The temporary directory.
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A fresh data dir whose clock reads `now`.
    pub fn at(now: &str) -> Home {
        let home = Home {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        home.set_clock(now);
        home
    }

    /// The data dir.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Moves the test clock to `now` (RFC 3339), atomically.
    pub fn set_clock(&self, now: &str) {
        let temp = self.dir.path().join(".clock.tmp");
        std::fs::write(&temp, now).expect("write clock");
        std::fs::rename(&temp, self.dir.path().join("clock")).expect("move clock");
    }

    /// `PRAGMA user_version` of the database as it is.
    pub fn schema_version(&self) -> i64 {
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.path().join("scheduler.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open");
        conn.query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version")
    }

    /// The fires of `task`: `(fire_id, state, outcome)`, read from the database as it is.
    pub fn outcomes(&self, task: &str) -> Vec<(String, String, Option<String>)> {
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.path().join("scheduler.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open");
        let mut statement = conn
            .prepare(
                "SELECT fire_id, state, outcome FROM fires WHERE task_id = ?1 ORDER BY scheduled_at",
            )
            .expect("prepare");
        let rows = statement
            .query_map([task], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("query");
        rows.map(|r| r.expect("row")).collect()
    }

    /// The fires of `task`: `(fire_id, state)`, read from the database as it is.
    pub fn fires(&self, task: &str) -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.path().join("scheduler.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open");
        let mut statement = conn
            .prepare("SELECT fire_id, state FROM fires WHERE task_id = ?1 ORDER BY scheduled_at")
            .expect("prepare");
        let rows = statement
            .query_map([task], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query");
        rows.map(|r| r.expect("row")).collect()
    }
}

/// The config every test starts from: the test clock on.
pub fn config(extra: Value) -> Value {
    let mut config = json!({"test_clock": true});
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// How the harness answers one `event/publish`: `None` leaves it unanswered,
/// `Some(Ok(()))` takes it, `Some(Err(data))` refuses it with that error `data`.
pub type Publish = Box<dyn FnMut(&Value) -> Option<Result<(), Value>>>;

/// A running plugin process.
pub struct Plugin {
    child: HandlerChild,
    events: VecDeque<Value>,
    answers: VecDeque<Value>,
    next_id: u64,
    publish: Publish,
    paused: Value,
    /// How many times the plugin asked which groups are paused.
    pub paused_asked: usize,
    /// The `audit/record` lines the plugin sent, as sent.
    pub records: Vec<Value>,
    /// The `log` lines the plugin sent: `(level, message)`.
    pub logs: Vec<(String, String)>,
}

impl Plugin {
    /// Starts the binary on `home` and initializes it with `config`; panics if refused.
    pub fn start(home: &Home, config: Value) -> Plugin {
        let (plugin, answer) = Plugin::try_start(home, config);
        assert!(
            answer.get("result").is_some(),
            "initialize refused: {answer}"
        );
        plugin
    }

    /// Starts and initializes; the answer to `initialize`.
    pub fn try_start(home: &Home, config: Value) -> (Plugin, Value) {
        let child = HandlerChild::spawn(
            Path::new(env!("CARGO_BIN_EXE_carapace-plugin-scheduler")),
            &home.path(),
            Stdio::null(),
        );
        let mut plugin = Plugin {
            child,
            events: VecDeque::new(),
            answers: VecDeque::new(),
            next_id: 1,
            publish: Box::new(|_| Some(Ok(()))),
            paused: json!({"generation": 0, "groups": []}),
            paused_asked: 0,
            records: Vec::new(),
            logs: Vec::new(),
        };
        let params = json!({"plugin": "scheduler", "version": "0.1.0", "config": config,
                            "data_dir": home.path()});
        let answer = plugin.request("initialize", params);
        (plugin, answer)
    }

    /// How `event/publish` is answered from now on.
    pub fn on_publish(
        &mut self,
        publish: impl FnMut(&Value) -> Option<Result<(), Value>> + 'static,
    ) {
        self.publish = Box::new(publish);
    }

    /// What `scheduler/paused_groups` answers from now on.
    pub fn set_paused(&mut self, groups: &[&str], generation: u64) {
        self.paused = json!({"generation": generation, "groups": groups});
    }

    fn pump(&mut self, wait: Duration) -> bool {
        match self.child.lines.recv_timeout(wait) {
            Ok(line) => {
                let message: Value = serde_json::from_str(&line).expect("JSON line");
                let id = message.get("id").cloned();
                match (message.get("method").and_then(Value::as_str), id) {
                    (Some("event/publish"), id) => {
                        let params = message["params"].clone();
                        let answer = (self.publish)(&params);
                        self.events.push_back(params);
                        if let (Some(id), Some(answer)) = (id, answer) {
                            self.answer(&id, answer);
                        }
                    }
                    (Some("scheduler/paused_groups"), Some(id)) => {
                        self.paused_asked += 1;
                        let snapshot = self.paused.clone();
                        self.child.send_line(
                            &json!({"jsonrpc": "2.0", "id": id, "result": snapshot}).to_string(),
                        );
                    }
                    (Some(_), Some(id)) => self.answer(&id, Err(json!({"code": "REFUSED"}))),
                    (Some("audit/record"), None) => self.records.push(message["params"].clone()),
                    (Some("log"), None) => self.logs.push((
                        message["params"]["level"].as_str().unwrap_or("").to_owned(),
                        message["params"]["message"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                    )),
                    (Some(_), None) => {}
                    (None, _) => self.answers.push_back(message),
                }
                true
            }
            Err(_) => false,
        }
    }

    fn answer(&mut self, id: &Value, answer: Result<(), Value>) {
        let line = match answer {
            Ok(()) => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
            Err(data) => json!({"jsonrpc": "2.0", "id": id,
                                "error": {"code": -32000, "message": "refused", "data": data}}),
        };
        self.child.send_line(&line.to_string());
    }

    /// Sends a request and waits for its answer.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.child.request(id, method, params);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(at) = self.answers.iter().position(|a| a["id"] == id) {
                return self.answers.remove(at).expect("answer");
            }
            assert!(Instant::now() < deadline, "no answer to {method}");
            self.pump(Duration::from_millis(50));
        }
    }

    /// Calls `tool` as a session of `group` with origin trust `trust`: its result or error.
    pub fn call(&mut self, group: &str, trust: &str, tool: &str, arguments: Value) -> Value {
        let origin = json!({"kind": "open", "plugin": null, "sender": null, "trust": trust});
        self.call_as(group, &format!("s-{trust}"), origin, tool, arguments)
    }

    /// Calls `tool` as session `session` of `group` whose origin (as the core
    /// records it) is `origin`: its result or error.
    pub fn call_as(
        &mut self,
        group: &str,
        session: &str,
        origin: Value,
        tool: &str,
        arguments: Value,
    ) -> Value {
        let envelope = json!({
            "id": "r", "topic": format!("tool.invoke.{tool}"), "source": format!("session:{session}"),
            "correlation": "c", "timestamp": "2026-12-03T10:00:00Z", "group": group,
            "session": {"id": session, "started_at": "2026-12-03T10:00:00Z"},
            "origin": origin,
            "payload": {"arguments": arguments}});
        self.request("tool/call", json!({"tool": tool, "envelope": envelope}))
    }

    /// The result of a call that must succeed.
    pub fn ok(&mut self, group: &str, trust: &str, tool: &str, arguments: Value) -> Value {
        let answer = self.call(group, trust, tool, arguments);
        answer
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{tool} failed: {answer}"))
    }

    /// Sends an `event` notification (as the core forwards one).
    pub fn event(&mut self, topic: &str, payload: Value) {
        let message = json!({"jsonrpc": "2.0", "method": "event",
                             "params": {"envelope": {"topic": topic, "payload": payload}}});
        self.child.send_line(&message.to_string());
    }

    /// Sends `group.paused` (or, with `paused` false, `group.resumed`) for
    /// `group` as the core does, with the paused set's `generation` (`None`:
    /// without one).
    pub fn group_word(&mut self, group: &str, paused: bool, generation: Option<u64>) {
        let mut payload = json!({"group": group, "by": "cli", "plugin": null});
        if let Some(generation) = generation {
            payload["generation"] = json!(generation);
        }
        let topic = if paused {
            "group.paused"
        } else {
            "group.resumed"
        };
        self.event(topic, payload);
    }

    /// `schedule_task` of a task firing every minute in UTC, by the owner of `main`.
    pub fn every_minute(&mut self, prompt: &str) -> Value {
        self.ok(
            "main",
            "owner",
            "schedule_task",
            json!({"cron": "* * * * *", "tz": "UTC", "prompt": prompt}),
        )
    }

    /// Every `task.triggered` published within `wait` (the whole wait is spent).
    pub fn fires_within(&mut self, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            self.pump(Duration::from_millis(20));
        }
        self.events.drain(..).collect()
    }

    /// Waits up to `wait` for `count` fires; those seen (maybe fewer).
    pub fn wait_fires(&mut self, count: usize, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        while self.events.len() < count && Instant::now() < deadline {
            self.pump(Duration::from_millis(20));
        }
        self.events.drain(..).collect()
    }

    /// SIGKILLs the process.
    pub fn kill9(mut self) {
        let _ = self.child.child.kill();
        let _ = self.child.child.wait();
    }

    /// `shutdown`, then waits for the exit.
    pub fn shutdown(mut self) {
        let answer = self.request("shutdown", json!({}));
        assert_eq!(answer["result"], json!({}));
        self.child.close_input();
        self.child.wait_exit(Duration::from_secs(10));
    }
}

/// A fire's `(task, scheduled_at)`.
pub fn slot(fire: &Value) -> (String, String) {
    (
        fire["payload"]["task"].as_str().unwrap_or("").to_owned(),
        fire["payload"]["scheduled_at"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}
