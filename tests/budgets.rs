//! Daily token caps through the real core, real podman and a scripted model
//! provider (issue 16, part 5): a spent cap stops the next model request with
//! the provider-shaped error, holds across a restart of the core, is announced
//! once (`budget.exhausted`), and is lifted for the day by the person
//! (`carapace budget extend`) or by a plugin granted `budgets` (`budget/extend`),
//! only for groups it serves; a task with its own cap stops while its group
//! goes on. Without podman: SKIPPED loudly (a failure with `CARAPACE_REQUIRE_PODMAN=1`).

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "fixtures/scripted_provider.rs"]
mod scripted_provider;

#[allow(dead_code)]
#[path = "fixtures/approver-plugin/rig.rs"]
mod rig;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestCore, TestSession};
use harness::{agent_rootfs, config_with, podman_or_skip};
use serde_json::{json, Value};

/// Each answer of the scripted provider counts this many tokens.
const PER_ANSWER: u64 = 120;

/// A config for the `model_agent.sh` agent against `provider`, with `model`
/// lines added under `[model]`, and the approver fixture plugins: `approver`
/// (granted `budgets`), `ungranted` (declares it, not granted), `stranger`
/// (granted, serves only `ops`) and, with `tasks`, the task publisher `pysched`.
fn config(rootfs: &Path, provider: &str, model: &str, plugins: &Path, tasks: bool) -> String {
    for (name, caps) in [
        ("approver", &["budgets"][..]),
        ("ungranted", &["budgets"][..]),
        ("stranger", &["budgets"][..]),
    ] {
        rig::approver_plugin(plugins, name, caps);
    }
    if tasks {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/task-publisher");
        let folder = plugins.join("pysched");
        std::fs::create_dir_all(&folder).expect("plugin folder");
        std::fs::copy(fixture.join("pysched.json"), folder.join("manifest.json"))
            .expect("manifest");
        std::fs::copy(fixture.join("handler.py"), folder.join("handler.py")).expect("handler");
    }
    let extra = format!(
        "[model]\nupstream = \"{provider}\"\n{model}\n\
         [groups.ops]\ntools = [\"*\"]\n\
         [plugins]\ndirs = [\"{}\"]\n\
         [plugins.approver]\ncapabilities = [\"budgets\"]\n\
         [plugins.stranger]\ngroups = [\"ops\"]\ncapabilities = [\"budgets\"]\n{}",
        plugins.display(),
        if tasks {
            "[plugins.pysched]\ncapabilities = [\"scheduler\"]\n"
        } else {
            ""
        }
    );
    config_with(rootfs, "model_agent.sh", 20, &extra)
}

/// A running core with a model key stored, its scripted provider, and what they need kept.
struct Running {
    core: TestCore,
    provider: scripted_provider::ScriptedProvider,
    _rootfs: tempfile::TempDir,
    _plugins: tempfile::TempDir,
}

impl Running {
    /// Starts one (see [`config`]), or `None` when podman is missing and may be.
    fn start(what: &str, model: &str, tasks: bool) -> Option<Running> {
        if !podman_or_skip(what) {
            return None;
        }
        let rootfs = agent_rootfs();
        let provider = scripted_provider::ScriptedProvider::start(Vec::new());
        let plugins = common::plugins_dir();
        let text = config(
            rootfs.path(),
            &provider.upstream(),
            model,
            plugins.path(),
            tasks,
        );
        let mut core = TestCore::prepare(&text, false);
        core.launch();
        core.auth_set("model", "anthropic_api_key", &common::generated_model_key());
        Some(Running {
            core,
            provider,
            _rootfs: rootfs,
            _plugins: plugins,
        })
    }
}

/// `plugin` (through its `_ask` tool, called from `session`) sends `method`.
fn ask(session: &TestSession, plugin: &str, method: &str, params: Value) -> Value {
    let arguments = json!({"method": method, "params": params.to_string()}).to_string();
    session
        .ipc_with(&[&format!("{plugin}_ask"), &arguments], None, "40")
        .result()
}

/// What the agent of one `carapace prompt` in `group` says.
fn answer_in(core: &TestCore, group: &str, prompt: &str) -> String {
    let out = core.prompt(&["--quiet", "--group", group, prompt]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// What the agent of one `carapace prompt` in `main` says.
fn answer(core: &TestCore, prompt: &str) -> String {
    answer_in(core, "main", prompt)
}

/// The scripted agent's words when its model request was refused (wget's exit status follows).
const REFUSED: &str = "model refused";

/// The events `plugin` received (from its data dir), waiting until `wanted` holds.
fn wait_events(
    core: &TestCore,
    plugin: &str,
    what: &str,
    wanted: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = core
        .home
        .path()
        .join("data")
        .join(plugin)
        .join("events.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if wanted(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{plugin} never saw {what}: {events:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn on<'a>(events: &'a [Value], topic: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["topic"] == topic)
        .map(|e| &e["payload"])
        .collect()
}

fn code(answer: &Value) -> &str {
    answer["error"]["data"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not refused: {answer}"))
}

#[test]
fn a_spent_cap_holds_across_a_restart_until_the_person_allows_more_today() {
    let Some(mut running) = Running::start("token caps", "daily_token_budget = 100", false) else {
        return;
    };
    let (core, provider) = (&mut running.core, &running.provider);

    assert_eq!(answer(core, "first"), "model answered");
    assert!(answer(core, "second").starts_with(REFUSED));
    assert!(answer(core, "third").starts_with(REFUSED));
    assert_eq!(
        provider.seen().len(),
        1,
        "refused requests never reach the provider"
    );
    let events = wait_events(core, "approver", "budget.exhausted", |e| {
        !on(e, "budget.exhausted").is_empty()
    });
    let exhausted = on(&events, "budget.exhausted");
    assert_eq!(exhausted.len(), 1, "announced once per cap: {exhausted:?}");
    assert_eq!(
        *exhausted[0],
        json!({"group": "main", "task": null, "used": PER_ANSWER, "reserved": 0, "cap": 100})
    );
    assert!(core
        .audit_events()
        .iter()
        .any(|e| e["kind"] == "budget.exhausted" && e["group"] == "main"));

    // The core restarts: today's spend is read back, the cap still holds.
    core.stop();
    core.launch();
    assert!(answer(core, "after a restart").starts_with(REFUSED));
    assert_eq!(provider.seen().len(), 1);
    let shown = core.cli_json(&["budget", "--json"]);
    let main = shown["scopes"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["group"] == "main" && r["task"].is_null())
        })
        .cloned()
        .unwrap_or_else(|| panic!("no row for main: {shown}"));
    assert_eq!(
        (main["used"].as_u64(), main["cap"].as_u64()),
        (Some(PER_ANSWER), Some(100))
    );

    // Only a granted plugin, for a group it serves, with a sane amount, on a cap that exists.
    let session = core.open_session("ops");
    let extend = |plugin: &str, params: Value| ask(&session, plugin, "budget/extend", params);
    let lift = json!({"group": "main", "tokens": 200, "by": "owner"});
    assert_eq!(code(&extend("ungranted", lift.clone())), "NOT_CAPABLE");
    assert_eq!(code(&extend("stranger", lift.clone())), "NOT_SERVED");
    for (params, wanted) in [
        (
            json!({"group": "main", "tokens": 0, "by": "owner"}),
            "INVALID_PARAMS",
        ),
        (
            json!({"group": "main", "tokens": 200, "by": "owner", "extra": 1}),
            "INVALID_PARAMS",
        ),
        (
            json!({"group": "main", "tokens": -5, "by": "owner"}),
            "INVALID_PARAMS",
        ),
        (
            json!({"group": "main", "tokens": 200, "by": ""}),
            "INVALID_PARAMS",
        ),
        (
            json!({"group": "main", "task": "t1", "tokens": 200, "by": "owner"}),
            "NOT_CAPPED",
        ),
        (
            json!({"group": "nope", "tokens": 200, "by": "owner"}),
            "NOT_SERVED",
        ),
    ] {
        assert_eq!(
            code(&extend("approver", params.clone())),
            wanted,
            "{params}"
        );
    }
    assert!(answer(core, "still refused").starts_with(REFUSED));

    let lifted = extend("approver", lift);
    assert_eq!(lifted["result"]["cap"], 300, "{lifted}");
    assert_eq!(answer(core, "lifted"), "model answered");
    assert_eq!(provider.seen().len(), 2);
    let extended: Vec<Value> = core
        .audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "budget.extended")
        .collect();
    assert_eq!(extended.len(), 1, "{extended:?}");
    assert_eq!(extended[0]["by"], "owner");
    assert_eq!(extended[0]["plugin"], "approver");

    // The person at the host may allow more too; the extension outlives a restart.
    let out = core.cli(&["budget", "extend", "main", "1000"]);
    assert!(out.status.success(), "{out:?}");
    core.stop();
    core.launch();
    assert_eq!(answer(core, "after the host's extension"), "model answered");
    let shown = core.cli(&["budget"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("main: 360 used, cap 1300 (extended by 1200)"),
        "{text}"
    );
}

#[test]
fn a_task_stops_at_its_own_cap_while_its_group_goes_on() {
    let model = "daily_token_budget = 1000\n[model.task_budgets]\nt1 = 100";
    let Some(running) = Running::start("task caps", model, true) else {
        return;
    };
    let (core, provider) = (&running.core, &running.provider);
    // The publisher fires tasks for the group of the session that asks it.
    let session = core.open_session("ops");
    let completed = |n: usize| {
        wait_events(core, "approver", "task sessions completed", |e| {
            on(e, "agent.completed")
                .iter()
                .filter(|p| p["session_origin"]["kind"] == "task")
                .count()
                >= n
        })
    };
    for (n, fire) in ["t1@2026-12-03T10:00:00Z", "t1@2026-12-03T11:00:00Z"]
        .iter()
        .enumerate()
    {
        let published = json!({"prompt": "daily", "fire_id": fire, "trust": "owner"});
        session
            .ipc(&["cap_publish", &published.to_string()])
            .result();
        completed(n + 1);
    }
    let events = completed(2);
    let answers: Vec<&Value> = on(&events, "agent.completed")
        .into_iter()
        .filter(|p| p["session_origin"]["kind"] == "task")
        .map(|p| &p["answer"])
        .collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0], "model answered");
    assert!(
        answers[1].as_str().is_some_and(|a| a.starts_with(REFUSED)),
        "{answers:?}"
    );
    let exhausted = on(&events, "budget.exhausted");
    assert_eq!(
        exhausted.first().map(|p| (*p).clone()),
        Some(json!({"group": "ops", "task": "t1", "used": PER_ANSWER, "reserved": 0, "cap": 100}))
    );
    // The task's group still has room: a prompt in it goes on.
    assert_eq!(
        answer_in(core, "ops", "the group goes on"),
        "model answered"
    );
    assert_eq!(provider.seen().len(), 2);
}
