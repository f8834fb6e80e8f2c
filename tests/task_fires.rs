//! `task.triggered` through the real core (issue 16): who may publish it, and
//! the fire ids that make a scheduler's re-publishing safe.
//!
//! Rule: only a plugin whose manifest declares the capability `scheduler` may
//! publish `task.*` (a plugin merely named `scheduler` may not, nor any other);
//! the refusal is audited. A `task.triggered` without a `fire_id`, or with one
//! the core has taken before (also before a restart of the core), starts no
//! session: refused, audited and published as `agent.refused`. An
//! acknowledged publish (a request) is answered only once the fire id is on
//! disk, and a refusal names its code (`FIRE_TAKEN`, `GROUP_PAUSED` with the
//! paused set's generation, `NOT_ALLOWED`), so a scheduler marks a fire done
//! only when the core has it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::TestCore;
use serde_json::{json, Value};

/// Group `main` with every tool, and the two task-publishing fixture plugins
/// (`pysched` with the capability, `scheduler` merely named so), written into
/// a folder kept while the returned directory lives: one handler, copied into
/// each plugin's own folder (a confined plugin reads only its own).
fn config() -> (String, tempfile::TempDir) {
    config_granting(true)
}

/// [`config`], with `pysched`'s capability granted in the config or not.
fn config_granting(grant: bool) -> (String, tempfile::TempDir) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/task-publisher");
    let plugins = common::plugins_dir();
    for name in ["pysched", "scheduler"] {
        let folder = plugins.path().join(name);
        std::fs::create_dir_all(&folder).expect("plugin folder");
        std::fs::copy(
            fixture.join(format!("{name}.json")),
            folder.join("manifest.json"),
        )
        .expect("manifest");
        std::fs::copy(fixture.join("handler.py"), folder.join("handler.py")).expect("handler");
    }
    let config = format!(
        "[groups.main]\ntools = [\"*\"]\n[groups.ops]\ntools = [\"*\"]\n[plugins]\ndirs = [\"{}\"]\n{}",
        plugins.path().display(),
        if grant {
            "[plugins.pysched]\ncapabilities = [\"scheduler\"]\n"
        } else {
            ""
        }
    );
    (config, plugins)
}

fn refusals_of<'a>(events: &'a [Value], code: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "agent.refused" && e["code"] == code)
        .collect()
}

#[test]
fn only_the_scheduler_capability_publishes_task_events_not_the_name() {
    let (config, _plugins) = config();
    let core = TestCore::start(&config);
    let session = core.open_session("main");
    let fire = json!({"prompt": "daily", "fire_id": "t1@2026-12-03T10:00:00Z", "trust": "owner"});
    session.ipc(&["named_publish", &fire.to_string()]).result();
    let events = core.wait_for_audit("the named plugin's refusal", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "event.refused" && e["plugin"] == "scheduler")
    });
    let refused = events
        .iter()
        .find(|e| e["kind"] == "event.refused")
        .expect("refused");
    assert_eq!(refused["topic"], "task.triggered", "{refused}");
    assert!(
        !events.iter().any(|e| e["kind"] == "event.published"),
        "a plugin named scheduler without the capability published"
    );
    session.ipc(&["cap_publish", &fire.to_string()]).result();
    let events = core.wait_for_audit("the capable plugin's event", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "event.published" && e["plugin"] == "pysched")
    });
    let published = events
        .iter()
        .find(|e| e["kind"] == "event.published")
        .expect("published");
    assert_eq!(published["topic"], "task.triggered", "{published}");
}

#[test]
fn a_declared_scheduler_capability_the_person_did_not_grant_publishes_nothing() {
    let (config, _plugins) = config_granting(false);
    let core = TestCore::start(&config);
    let session = core.open_session("main");
    let fire = json!({"prompt": "daily", "fire_id": "t1@2026-12-03T10:00:00Z", "trust": "owner"});
    session.ipc(&["cap_publish", &fire.to_string()]).result();
    let events = core.wait_for_audit("the ungranted plugin's refusal", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "event.refused" && e["plugin"] == "pysched")
    });
    assert!(
        !events.iter().any(|e| e["kind"] == "event.published"),
        "a scheduler the person did not grant published"
    );
}

#[test]
fn a_fire_starts_at_most_one_session_also_across_a_restart_and_needs_an_id() {
    let (config, _plugins) = config();
    let mut core = TestCore::prepare(&config, false);
    core.launch();
    let session = core.open_session("main");
    let fire = json!({"prompt": "daily", "fire_id": "t1@2026-12-03T10:00:00Z"});
    session.ipc(&["cap_publish", &fire.to_string()]).result();
    session.ipc(&["cap_publish", &fire.to_string()]).result();
    session
        .ipc(&["cap_publish", r#"{"prompt":"no id"}"#])
        .result();
    session
        .ipc(&["cap_publish", r#"{"prompt":"bad id","fire_id":"a b/c"}"#])
        .result();
    // A fire must name its task too (its token cap is kept by it).
    session
        .ipc(&[
            "cap_publish",
            r#"{"prompt":"no task","fire_id":"t9@x","task":"\u0007"}"#,
        ])
        .result();
    let events = core.wait_for_audit("the refusals", |events| {
        refusals_of(events, "FIRE_TAKEN").len() == 1
            && refusals_of(events, "NO_FIRE_ID").len() == 2
            && refusals_of(events, "NO_TASK_ID").len() == 1
    });
    let taken =
        std::fs::read_to_string(core.home.path().join("state/task_fires")).expect("the fires file");
    assert_eq!(taken, "t1@2026-12-03T10:00:00Z\n");
    assert_eq!(refusals_of(&events, "FIRE_TAKEN")[0]["plugin"], "pysched");
    core.stop();
    core.launch();
    let session = core.open_session("main");
    session.ipc(&["cap_publish", &fire.to_string()]).result();
    let again = json!({"prompt": "daily", "fire_id": "t1@2026-12-03T11:00:00Z"});
    session.ipc(&["cap_publish", &again.to_string()]).result();
    core.wait_for_audit_within(
        Duration::from_secs(10),
        "the taken fire after a restart",
        |events| refusals_of(events, "FIRE_TAKEN").len() == 2,
    );
    let taken =
        std::fs::read_to_string(core.home.path().join("state/task_fires")).expect("the fires file");
    assert_eq!(
        taken, "t1@2026-12-03T10:00:00Z\nt1@2026-12-03T11:00:00Z\n",
        "the new fire was taken, the old one not again"
    );
}

/// `cap_request`: the fixture sends `method` with `params` to the core; its answer.
fn ask(session: &common::TestSession, method: &str, params: Value) -> Value {
    let arguments = json!({"method": method, "params": params.to_string()});
    session
        .ipc(&["cap_request", &arguments.to_string()])
        .result()["answer"]
        .clone()
}

fn fire(id: &str) -> Value {
    json!({"topic": "task.triggered", "group": "main",
           "payload": {"prompt": "daily", "task": "t1", "fire_id": id, "trust": "owner"}})
}

#[test]
fn an_acknowledged_fire_is_answered_once_on_disk_and_a_repeat_is_taken() {
    let (config, _plugins) = config();
    let core = TestCore::start(&config);
    // The calls come from `ops`: a paused `main` makes no calls.
    let session = core.open_session("ops");
    let fires_file = core.home.path().join("state/task_fires");
    let first = ask(&session, "event/publish", fire("t1@2026-12-03T10:00:00Z"));
    assert_eq!(first, json!({"result": {}}), "{first}");
    // Answered only after the fire id was written.
    let taken = std::fs::read_to_string(&fires_file).expect("the fires file");
    assert_eq!(taken, "t1@2026-12-03T10:00:00Z\n");
    // Sent again (an answer lost to a crash): taken, no second session.
    let again = ask(&session, "event/publish", fire("t1@2026-12-03T10:00:00Z"));
    assert_eq!(again["error"]["data"]["code"], "FIRE_TAKEN", "{again}");
    let events = core.wait_for_audit("the refused repeat", |events| {
        refusals_of(events, "FIRE_TAKEN").len() == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    let sessions = core
        .audit_events()
        .iter()
        .filter(|e| e["kind"] == "session.opened" && e["origin"]["kind"] == "task")
        .count();
    assert!(
        sessions <= 1,
        "a repeated fire opened a second session: {events:?}"
    );
    // A topic this plugin may not publish is refused, not published.
    let inbound = json!({"topic": "message.inbound", "group": "main", "payload": {"text": "hi"}});
    let refused = ask(&session, "event/publish", inbound);
    assert_eq!(refused["error"]["data"]["code"], "NOT_ALLOWED", "{refused}");

    // Paused: the answer says so, with the generation the paused set had.
    assert!(core.cli(&["pause", "main"]).status.success());
    let snapshot = ask(&session, "scheduler/paused_groups", json!({}));
    assert_eq!(snapshot["result"]["groups"], json!(["main"]), "{snapshot}");
    let generation = snapshot["result"]["generation"]
        .as_u64()
        .expect("generation");
    let paused = ask(&session, "event/publish", fire("t1@2026-12-03T11:00:00Z"));
    assert_eq!(paused["error"]["data"]["code"], "GROUP_PAUSED", "{paused}");
    assert_eq!(paused["error"]["data"]["generation"], generation);
    assert!(core.cli(&["resume", "main"]).status.success());
    let snapshot = ask(&session, "scheduler/paused_groups", json!({}));
    assert_eq!(
        snapshot["result"],
        json!({"generation": generation + 1, "groups": []})
    );
    // Strict params.
    let bad = ask(
        &session,
        "scheduler/paused_groups",
        json!({"group": "main"}),
    );
    assert_eq!(bad["error"]["data"]["code"], "INVALID_PARAMS", "{bad}");
}

#[test]
fn only_a_granted_scheduler_asks_which_groups_are_paused() {
    let (config, _plugins) = config_granting(false);
    let core = TestCore::start(&config);
    let session = core.open_session("ops");
    let refused = ask(&session, "scheduler/paused_groups", json!({}));
    assert_eq!(refused["error"]["data"]["code"], "NOT_CAPABLE", "{refused}");
    let refused = ask(&session, "event/publish", fire("t1@2026-12-03T10:00:00Z"));
    assert_eq!(refused["error"]["data"]["code"], "NOT_ALLOWED", "{refused}");
}
