//! The event bus and connection auditing.
//!
//! Rule: a high-risk call is announced on the bus (so a channel plugin can ask
//! the user) and its outcome too; every connection to a session socket, and
//! every drop of a peer (with the core's reason), is on the audit record.

mod common;

use std::time::{Duration, Instant};

use common::{TestCore, BASIC_CONFIG};
use serde_json::Value;

fn approve_next(core: &TestCore) {
    let pending = core.wait_pending();
    let id = pending["id"].as_str().expect("id");
    assert!(core.cli(&["confirm", "approve", id]).status.success());
}

#[test]
fn confirmations_are_published_on_the_bus() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let (mut follower, events) = common::follow_events(&core, "confirmation.");
    let next = |wanted: &str| common::next_event(&events, wanted);
    // The first call proves the subscription is live (a SUB may miss what came before it joined).
    for round in 0..2 {
        let caller = session.clone();
        let call = std::thread::spawn(move || {
            caller.ipc_with(
                &[
                    "send_message",
                    r#"{"to":"carol","text":"x\u202egnp.exe\u009b2J"}"#,
                ],
                None,
                "30",
            )
        });
        if round == 1 {
            let requested = next("confirmation.requested");
            assert_eq!(requested["payload"]["tool"], "send_message");
            assert_eq!(requested["payload"]["session"], session.id.as_str());
            // Who the session acts for, so a channel can tell the person.
            assert_eq!(
                requested["payload"]["origin"],
                serde_json::json!({"kind": "open", "plugin": null, "sender": null, "trust": "unknown"})
            );
            // What a subscriber shows a person is escaped; it decodes to what runs.
            let display = &requested["payload"]["display"];
            assert_eq!(
                display["arguments"],
                r#"{"text":"x\u202egnp.exe\u009b2J","to":"carol"}"#
            );
            assert_eq!(display["tool"], "send_message");
        }
        approve_next(&core);
        let resolved = next("confirmation.resolved");
        assert_eq!(resolved["payload"]["outcome"], "approved");
        call.join().expect("call").result();
    }
    let _ = follower.kill();
    let _ = follower.wait();
}

#[test]
fn connections_and_drops_are_audited() {
    let core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    session.ipc(&["list_tools"]).result();
    // A frame over the frame bound (1 MiB + 64 KiB): the peer is dropped without an answer.
    let huge = vec![b' '; 5 << 20];
    assert!(
        session.raw(&huge).is_none(),
        "an oversize frame gets no answer"
    );
    session.ipc(&["list_tools"]).result();
    // Repeats of a kind are counted into a summary line, written at the latest on close.
    let out = core.cli(&["session", "close", &session.id]);
    assert!(out.status.success(), "{out:?}");
    let events = core.wait_for_audit("connection records", |events| {
        let count = |kind: &str| {
            let mine = || {
                events
                    .iter()
                    .filter(|e| e["session"] == session.id.as_str())
            };
            let full = mine().filter(|e| e["kind"] == kind).count() as u64;
            let counted: u64 = mine()
                .filter(|e| e["kind"] == "refusals.summary" && e["of"] == kind)
                .filter_map(|e| e["count"].as_u64())
                .sum();
            full + counted
        };
        count("connection.accepted") >= 3
            && count("connection.closed") >= 2
            && count("connection.protocol_error") >= 1
    });
    let dropped = events
        .iter()
        .find(|e| e["kind"] == "connection.protocol_error")
        .expect("the drop is audited");
    assert!(
        dropped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("over the 1114112-byte limit")),
        "{dropped}"
    );
    assert!(events
        .iter()
        .all(|e| e["kind"] != "request.received" || e["bytes"].as_u64() < Some(4 << 20)));
}

#[test]
fn a_libzmq_subscriber_gets_the_topics_it_asked_for_and_no_others() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let context = zmq::Context::new();
    let subscriber = context.socket(zmq::SUB).expect("sub");
    subscriber
        .connect(&format!(
            "ipc://{}",
            core.home.path().join("run/events.sock").display()
        ))
        .expect("connect");
    subscriber
        .set_subscribe(b"confirmation.resolved")
        .expect("subscribe");
    subscriber.set_rcvtimeo(15_000).expect("timeout");
    // A SUB may miss what came before its subscription arrived: repeat until one lands.
    let deadline = Instant::now() + Duration::from_secs(30);
    let frames = loop {
        let caller = session.clone();
        let call = std::thread::spawn(move || {
            caller.ipc_with(&["send_message", r#"{"to":"dan","text":"x"}"#], None, "30")
        });
        approve_next(&core);
        call.join().expect("call").result();
        subscriber.set_rcvtimeo(1_000).expect("timeout");
        if let Ok(frames) = subscriber.recv_multipart(0) {
            break frames;
        }
        assert!(
            Instant::now() < deadline,
            "no event reached the libzmq subscriber"
        );
    };
    assert_eq!(frames.len(), 2, "topic and payload");
    assert_eq!(frames[0], b"confirmation.resolved");
    let payload: Value = serde_json::from_slice(&frames[1]).expect("JSON payload");
    assert_eq!(payload["outcome"], "approved");
    // Nothing but the subscribed prefix ever arrives.
    subscriber.set_rcvtimeo(300).expect("timeout");
    while let Ok(frames) = subscriber.recv_multipart(0) {
        assert_eq!(frames[0], b"confirmation.resolved");
    }
}
