//! Concurrent calls, plugin -> core requests, and draining on shutdown.
//!
//! Rule: a slow call never holds up another call, and every answer carries the
//! id of the request it answers.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use carapace_plugin_sdk::testing::Harness;
use carapace_plugin_sdk::{JsonRpcError, Stopped, MAX_CONCURRENT_CALLS};
use common::Tools;
use serde_json::{json, Value};

fn ready() -> Harness {
    let harness = Harness::start(Tools);
    assert_eq!(harness.initialize(json!({})), Ok(json!({})));
    harness
}

#[test]
fn concurrent_calls_are_answered_out_of_order_with_their_own_ids() {
    let harness = ready();
    // Sent in order 0..8, with the longest sleeps first: they finish in reverse.
    let answers: Vec<(usize, Result<Value, JsonRpcError>, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let harness = &harness;
                let handle = s.spawn(move || {
                    let ms = 50 * (8 - i as u64);
                    let answer = harness.call("sleep", json!({"ms": ms, "tag": format!("t{i}")}));
                    (i, answer, Instant::now())
                });
                std::thread::sleep(Duration::from_millis(5));
                handle
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("caller thread"))
            .collect()
    });
    for (i, answer, _) in &answers {
        assert_eq!(answer, &Ok(json!({"tag": format!("t{i}")})));
    }
    let first_sent_done = answers[0].2;
    let last_sent_done = answers[7].2;
    assert!(
        last_sent_done < first_sent_done,
        "answers came back in send order"
    );
}

#[test]
fn a_slow_call_does_not_block_a_fast_one() {
    let harness = ready();
    std::thread::scope(|s| {
        let slow = s.spawn(|| harness.call("sleep", json!({"ms": 1500, "tag": "slow"})));
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        assert_eq!(harness.call("echo", json!({"x": 1})), Ok(json!({"x": 1})));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "the fast call waited"
        );
        assert!(!slow.is_finished());
        assert_eq!(
            slow.join().expect("slow caller"),
            Ok(json!({"tag": "slow"}))
        );
    });
}

#[test]
fn calls_beyond_the_limit_queue_and_all_complete() {
    let harness = ready();
    let callers = MAX_CONCURRENT_CALLS * 2;
    let start = Arc::new(Barrier::new(callers));
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|i| {
                let (harness, start) = (&harness, Arc::clone(&start));
                s.spawn(move || {
                    start.wait();
                    harness.call("sleep", json!({"ms": 200, "tag": format!("q{i}")}))
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(
                handle.join().expect("caller"),
                Ok(json!({"tag": format!("q{i}")}))
            );
        }
    });
    // Two waves of 200 ms: queued (not all at once), yet concurrent (not one by one).
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "ran more than the limit at once: {took:?}"
    );
    assert!(took < Duration::from_millis(2000), "ran serially: {took:?}");
}

#[test]
fn a_plugin_request_is_routed_back_to_the_call_that_made_it() {
    let harness = ready();
    harness.on_request(|method, params| match method {
        "services/audit_log" => Ok(json!({"entries": [params]})),
        "services/tool_catalog" => {
            Ok(json!([{"name": "echo", "description": "d", "risk_level": "low"}]))
        }
        _ => Err(JsonRpcError::new(-32601, "no")),
    });
    for answer in &calls_at_once(&harness, 6, "audit", &json!({})) {
        let answer = answer.as_ref().expect("answered");
        let entry = &answer["audit"]["entries"][0];
        assert_eq!(entry["call"], answer["call"], "{answer}");
        assert_eq!(entry["limit"], 5);
    }
    let catalog = harness.call("catalog", json!({})).expect("answered");
    assert_eq!(catalog[0]["name"], "echo");
    let requests = harness.core_requests();
    assert_eq!(requests.len(), 7);
    let (method, params) = &requests[6];
    assert_eq!(method, "services/tool_catalog");
    assert!(
        params["call"].is_u64(),
        "the catalog is scoped by call: {params}"
    );
}

/// The thread that reads a call runs it, so this checks that some thread is always left
/// to read: here every call slot waits for the core's answer at the same time.
#[test]
fn answers_reach_calls_while_every_slot_waits_for_the_core() {
    let harness = ready();
    harness.on_request(|_, params| Ok(json!({"entries": [params]})));
    let arguments = json!({"calls": MAX_CONCURRENT_CALLS});
    for answer in &calls_at_once(&harness, MAX_CONCURRENT_CALLS, "rendezvous", &arguments) {
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert_eq!(harness.core_requests().len(), MAX_CONCURRENT_CALLS);
    // And the plugin still reads and answers afterwards.
    assert_eq!(harness.call("echo", json!({"a": 1})), Ok(json!({"a": 1})));
}

/// Makes `count` calls of `tool` at once, each from its own thread; answers in call order.
fn calls_at_once(
    harness: &Harness,
    count: usize,
    tool: &str,
    arguments: &Value,
) -> Vec<Result<Value, JsonRpcError>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .map(|_| s.spawn(|| harness.call(tool, arguments.clone())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("caller"))
            .collect()
    })
}

/// Rule: `publish_acked` is a request: `Ok` only on the core's answer, the
/// core's refusal with its `data` (code, generation) otherwise.
#[test]
fn an_acknowledged_publish_waits_for_the_core_and_reads_its_refusal() {
    let harness = ready();
    harness.on_request(
        |method, params| match (method, params["payload"]["fire_id"].as_str()) {
            ("event/publish", Some("t1@a")) => Ok(json!({})),
            ("event/publish", _) => Err(JsonRpcError {
                code: -32000,
                message: "the group is paused".into(),
                data: Some(json!({"code": "GROUP_PAUSED", "generation": 4})),
            }),
            _ => Err(JsonRpcError::new(-32601, "no")),
        },
    );
    let acked = harness.call("announce_acked", json!({"fire_id": "t1@a"}));
    assert_eq!(acked, Ok(json!({"acked": true})));
    let refused = harness
        .call("announce_acked", json!({"fire_id": "t1@b"}))
        .expect_err("refused");
    assert_eq!(refused.message, "refused GROUP_PAUSED 4");
    let requests = harness.core_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0, "event/publish");
    assert_eq!(requests[0].1["topic"], "task.triggered");
    assert_eq!(requests[0].1["payload"], json!({"fire_id": "t1@a"}));
}

#[test]
fn a_refused_plugin_request_reaches_the_plugin_as_an_error() {
    let harness = ready();
    let error = harness.call("catalog", json!({})).expect_err("refused");
    assert!(error.message.contains("refused"), "{error}");
}

#[test]
fn shutdown_waits_for_calls_in_flight() {
    let harness = ready();
    std::thread::scope(|s| {
        let slow = s.spawn(|| harness.call("sleep", json!({"ms": 500, "tag": "drained"})));
        std::thread::sleep(Duration::from_millis(50));
        let asked = Instant::now();
        assert_eq!(harness.shutdown(), Ok(json!({})));
        // The call had over 400 ms left: an answer much sooner did not wait for it.
        let waited = asked.elapsed();
        assert!(
            waited >= Duration::from_millis(200),
            "shutdown did not drain: {waited:?}"
        );
        assert_eq!(slow.join().expect("caller"), Ok(json!({"tag": "drained"})));
    });
    assert_eq!(
        harness.wait_stopped(Duration::from_secs(5)),
        Some(Stopped::Shutdown)
    );
}

#[test]
fn echo_round_trip_time() {
    let harness = ready();
    let rounds = 2000;
    let started = Instant::now();
    for i in 0..rounds {
        assert_eq!(harness.call("echo", json!({"i": i})), Ok(json!({"i": i})));
    }
    let each = started.elapsed() / rounds;
    eprintln!("one echo round trip through the harness: {each:?}");
    assert!(each < Duration::from_millis(20), "{each:?}");
}
