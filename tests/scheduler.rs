//! The scheduler plugin through the real core (issue 16): the real `carapace`,
//! the real `carapace-plugin-scheduler` process and its SQLite file, real
//! podman with `origin_agent.sh` (which answers with the envelope its session
//! was given), and the system clock. Without podman: SKIPPED loudly (a failure
//! with `CARAPACE_REQUIRE_PODMAN=1`).
//!
//! Rule: a task starts one session per fire, of origin `task`, with the trust
//! of the session that created it (a stranger's task is `unknown`, never the
//! owner's); a plugin killed between recording a fire and publishing it still
//! starts that session exactly once; so does a core killed between the
//! plugin's send and the core's answer, on either side of the core's taking
//! the fire: the plugin marks a fire done only on the core's answer, sends an
//! unanswered one again, and the core takes each fire id once.

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{fixture_plugins, TestCore, TestSession};
use harness::{agent_rootfs, config_with, podman_or_skip};
use serde_json::{json, Value};

/// Builds the plugin's binary beside `carapace` (where the core looks first) once.
fn build_plugin() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "-p",
                "carapace-plugin-scheduler",
                "--bin",
                "carapace-plugin-scheduler",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the scheduler plugin builds");
    });
}

/// A core with the bundled plugins (the scheduler among them), the test channel
/// (it keeps the `agent.*` events) and `pytools` (`envelope`), all running.
fn core(rootfs: &Path, scheduler_config: &str) -> TestCore {
    build_plugin();
    let channel = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/channel-plugins");
    let config = format!(
        "{}\n[plugins]\ndirs = [\"{}\", \"{}\"]\n[plugins.scheduler]\ncapabilities = [\"scheduler\"]\nconfig = {scheduler_config}\n",
        config_with(rootfs, "origin_agent.sh", 10, ""),
        channel.display(),
        fixture_plugins().display()
    );
    let mut core = TestCore::prepare(&config, false);
    core.use_bundled();
    core.launch();
    wait_running(&core);
    core
}

/// Waits until the scheduler, the test channel and `pytools` run.
fn wait_running(core: &TestCore) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = core.cli_json(&["status", "--json"]);
        let plugins = status["plugins"].as_array().cloned().unwrap_or_default();
        let running = |name: &str| {
            plugins
                .iter()
                .any(|p| p["name"] == name && p["state"] == "running")
        };
        if ["scheduler", "pychannel", "pytools"]
            .into_iter()
            .all(running)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "plugins not running: {status}\n{}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn open(core: &TestCore, trust: &str) -> TestSession {
    let summary = core.cli_json(&[
        "session", "open", "--group", "main", "--trust", trust, "--json",
    ]);
    TestSession {
        id: summary["id"].as_str().expect("id").to_owned(),
        socket: summary["socket"].as_str().expect("socket").into(),
    }
}

/// `schedule_task` from `session`, approved at the CLI; the task's id.
fn schedule(core: &TestCore, session: &TestSession, arguments: Value) -> String {
    let caller = session.clone();
    let call = std::thread::spawn(move || {
        caller.ipc_with(&["schedule_task", &arguments.to_string()], None, "60")
    });
    let pending = core.wait_pending();
    assert_eq!(pending["tool"], "schedule_task", "{pending}");
    let id = pending["id"].as_str().expect("id").to_owned();
    assert!(core.cli(&["confirm", "approve", &id]).status.success());
    let made = call.join().expect("call").result();
    made["task"]["id"].as_str().expect("task id").to_owned()
}

/// A one-shot task "once only" of `session`, `secs` from now (approved at the
/// CLI): its id, and the instant it is due.
fn once_only(core: &TestCore, session: &TestSession, secs: u64) -> (String, Instant) {
    let (at, when) = in_secs(secs);
    let task = schedule(
        core,
        session,
        json!({"at": at, "tz": "UTC", "prompt": "once only"}),
    );
    (task, when)
}

/// An instant `secs` from now, RFC 3339 UTC.
fn in_secs(secs: u64) -> (String, Instant) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + secs;
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{now}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    (
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Instant::now() + Duration::from_secs(secs),
    )
}

/// The `agent.completed`/`agent.error` payloads the test channel got, once
/// there are `count` of them (then `settle` longer, to see any extra).
fn sessions_done(
    core: &TestCore,
    reader: &TestSession,
    count: usize,
    settle: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    // Polled gently, and again after a refusal: the group's rate limit counts these calls.
    let done = || -> Vec<Value> {
        loop {
            let run = reader.ipc(&["delivered"]);
            if run.code == 0 {
                let events = run.result();
                return events["events"]
                    .as_array()
                    .map(|all| {
                        all.iter()
                            .filter(|e| {
                                e["topic"] == "agent.completed" || e["topic"] == "agent.error"
                            })
                            .map(|e| e["payload"].clone())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            assert!(Instant::now() < deadline, "delivered: {}", run.stderr);
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    loop {
        let seen = done();
        if seen.len() >= count {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sessions did not end: {seen:?}\n{}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(1500));
    }
    std::thread::sleep(settle);
    done()
}

fn of_task<'a>(done: &'a [Value], task: &str) -> Vec<&'a Value> {
    done.iter()
        .filter(|p| p["session_origin"]["sender"] == task)
        .collect()
}

#[test]
fn a_task_fires_once_as_a_task_session_with_its_creators_trust() {
    if !podman_or_skip("scheduler task sessions") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core(rootfs.path(), "{}");
    let stranger = open(&core, "unknown");
    let owner = open(&core, "owner");
    let (at, when) = in_secs(12);
    let strangers = schedule(
        &core,
        &stranger,
        json!({"at": at, "tz": "UTC", "prompt": "who am I?"}),
    );
    let owners = schedule(
        &core,
        &owner,
        json!({"at": at, "tz": "Europe/Berlin", "prompt": "who am I?"}),
    );
    let done = sessions_done(&core, &owner, 2, Duration::from_secs(3));
    assert!(Instant::now() >= when, "a task fired before its time");
    for (task, trust) in [(&strangers, "unknown"), (&owners, "owner")] {
        let sessions = of_task(&done, task);
        assert_eq!(sessions.len(), 1, "{task}: {done:#?}");
        let expected =
            json!({"kind": "task", "plugin": "scheduler", "sender": task, "trust": trust});
        assert_eq!(sessions[0]["session_origin"], expected, "{task}");
        let answer = sessions[0]["answer"]
            .as_str()
            .unwrap_or_else(|| panic!("{task} failed: {}", sessions[0]));
        let envelope: Value = serde_json::from_str(answer.trim()).expect("the envelope");
        assert_eq!(
            envelope["origin"], expected,
            "what the task's session was told"
        );
        assert_eq!(
            sessions[0]["origin"]["payload"]["fire_id"],
            format!("{task}@{at}")
        );
    }
}

/// The pid of the scheduler handler serving `home` (its working directory is its data dir).
fn scheduler_pid(home: &Path) -> Option<u32> {
    let data_dir = std::fs::canonicalize(home.join("data/scheduler")).ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            let is_handler =
                String::from_utf8_lossy(&cmdline).contains("carapace-plugin-scheduler");
            (is_handler && cwd == data_dir).then_some(pid)
        })
}

#[test]
fn killed_between_recording_and_publishing_the_fire_starts_one_session() {
    if !podman_or_skip("scheduler crash") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core(rootfs.path(), "{ test_hold_after_record_ms = 4000 }");
    let owner = open(&core, "owner");
    let (task, when) = once_only(&core, &owner, 10);
    // The fire is recorded at its instant and held 4 s before it is published: kill it there.
    std::thread::sleep(
        when.saturating_duration_since(Instant::now()) + Duration::from_millis(1500),
    );
    let pid = scheduler_pid(core.home.path()).expect("the scheduler's process");
    let published = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["kind"] == "event.published" && e["topic"] == "task.triggered")
            .count()
    };
    assert_eq!(
        published(&core.audit_events()),
        0,
        "published before the kill"
    );
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    // The core restarts the plugin, which publishes the pending fire again.
    let done = sessions_done(&core, &owner, 1, Duration::from_secs(6));
    assert_eq!(of_task(&done, &task).len(), 1, "{done:#?}");
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!(published(&core.audit_events()), 1);
    assert_ne!(scheduler_pid(core.home.path()), Some(pid), "a new handler");
}

/// `(state, outcome)` of each fire of `task` in the scheduler's database.
fn fire_states(home: &Path, task: &str) -> Vec<(String, String)> {
    let file = home.join("data/scheduler/scheduler.sqlite");
    let script = "import sqlite3, sys, json\n\
c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n\
print(json.dumps(c.execute('SELECT state, coalesce(outcome, \\'\\') FROM fires WHERE task_id = ? ORDER BY scheduled_at', (sys.argv[2],)).fetchall()))";
    let out = Command::new("python3")
        .args(["-c", script, &file.display().to_string(), task])
        .output()
        .expect("python3 reads the database");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("rows")
}

/// The sessions of origin `task` the core opened for `task`, by its audit log.
fn task_sessions(core: &TestCore, task: &str) -> usize {
    core.audit_events()
        .iter()
        .filter(|e| {
            e["kind"] == "session.opened"
                && e["origin"]["kind"] == "task"
                && e["origin"]["sender"] == task
        })
        .count()
}

/// Waits until the scheduler's database says `task`'s fire is `state`.
fn wait_fire_state(core: &TestCore, task: &str, state: &str) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let states = fire_states(core.home.path(), task);
        if states.iter().any(|(s, _)| s == state) {
            return states;
        }
        assert!(
            Instant::now() < deadline,
            "{task}: {states:?}\n{}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_core_killed_before_it_read_the_fire_runs_it_once_after_its_restart() {
    if !podman_or_skip("scheduler: a core killed before its answer") {
        return;
    }
    let rootfs = agent_rootfs();
    let mut core = core(rootfs.path(), "{}");
    let owner = open(&core, "owner");
    let (task, when) = once_only(&core, &owner, 12);
    // The core is frozen before the slot: the plugin records the fire and
    // sends it into a core that reads nothing, so no answer comes.
    std::thread::sleep(
        when.saturating_duration_since(Instant::now())
            .saturating_sub(Duration::from_secs(2)),
    );
    let pid = core.pid().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill")
        .success());
    let states = wait_fire_state(&core, &task, "pending");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        fire_states(core.home.path(), &task),
        states,
        "the fire was marked while the core could not answer"
    );
    core.kill9();
    core.launch();
    wait_running(&core);
    // The restarted plugin sends it again; the core, which never took it, runs it.
    let reader = open(&core, "owner");
    let states = wait_fire_state(&core, &task, "published");
    assert_eq!(states, [("published".to_owned(), "started".to_owned())]);
    let done = sessions_done(&core, &reader, 1, Duration::from_secs(5));
    assert_eq!(of_task(&done, &task).len(), 1, "{done:#?}");
    assert_eq!(task_sessions(&core, &task), 1);
}

#[test]
fn a_core_killed_after_it_took_the_fire_runs_it_once_and_not_again() {
    if !podman_or_skip("scheduler: a core killed after taking the fire") {
        return;
    }
    let rootfs = agent_rootfs();
    // The plugin waits 60 s between the core's answer and marking the fire.
    let mut core = core(rootfs.path(), "{ test_hold_after_ack_ms = 60000 }");
    let owner = open(&core, "owner");
    let (task, _) = once_only(&core, &owner, 10);
    // The core took the fire and ran its session; the plugin has not marked it.
    let done = sessions_done(&core, &owner, 1, Duration::from_secs(1));
    assert_eq!(of_task(&done, &task).len(), 1, "{done:#?}");
    assert_eq!(
        fire_states(core.home.path(), &task),
        [("pending".to_owned(), String::new())]
    );
    core.kill9();
    core.launch();
    wait_running(&core);
    // Sent again after the restart: the core answers FIRE_TAKEN, no second session.
    let states = wait_fire_state(&core, &task, "published");
    assert_eq!(states, [("published".to_owned(), "FIRE_TAKEN".to_owned())]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(task_sessions(&core, &task), 1, "a second session");
    let taken = core
        .audit_events()
        .iter()
        .filter(|e| e["kind"] == "agent.refused" && e["code"] == "FIRE_TAKEN")
        .count();
    assert_eq!(taken, 1);
}
