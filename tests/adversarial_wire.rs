//! Hostile messages sent over libzmq (a real ZeroMQ DEALER) to a session socket.
//!
//! Rule: no message an agent can send makes the core crash, hang, or answer
//! without a structured error; every refusal is audited. A frame over
//! the 4 MiB frame bound only loses its connection. Answers never echo raw
//! input back at length (field names, topics and correlations are bounded).

mod common;

use common::{TestCore, TestSession};
use serde_json::{json, Value};

const CONFIG: &str = r#"
[core]
log_level = "info"
[groups.main]
tools = ["*"]
rate_limit = { per_minute = 100000, burst = 100000 }
"#;

/// One hostile message: name, bytes, expected code, expected `error.field`.
type Case = (String, Vec<u8>, &'static str, Option<&'static str>);

fn case(
    name: &str,
    body: impl Into<Vec<u8>>,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    (name.to_owned(), body.into(), code, field)
}

/// How many refusals the audit log accounts for `session`: `request.rejected`
/// records, plus the counts of its `refusals.summary` lines (a session's
/// repeated refusals of one code are counted, not each recorded).
fn rejections(events: &[Value], session: &TestSession) -> usize {
    let mine = |e: &&Value| e["session"] == session.id.as_str();
    let full = events
        .iter()
        .filter(mine)
        .filter(|e| e["kind"] == "request.rejected")
        .count();
    let counted: u64 = events
        .iter()
        .filter(mine)
        .filter(|e| e["kind"] == "refusals.summary" && e["of"] == "request.rejected")
        .filter_map(|e| e["count"].as_u64())
        .sum();
    full + counted as usize
}

/// Closes `session` (which writes its refusal summaries) and waits for that.
fn close(core: &TestCore, session: &TestSession) -> Vec<Value> {
    let out = core.cli(&["session", "close", &session.id]);
    assert!(out.status.success(), "{out:?}");
    core.wait_for_audit("the session closed", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "session.closed" && e["session"] == session.id.as_str())
    })
}

/// A request with the given topic, correlation and arguments, as text.
fn req(topic: &str, correlation: &str, arguments: &str) -> String {
    format!(
        r#"{{"topic":{},"correlation":{},"arguments":{arguments}}}"#,
        json!(topic),
        json!(correlation)
    )
}

/// Sends `frames` as one multipart message on a fresh DEALER and returns the
/// answer's frames, or `None` if nothing came back within `wait_ms`.
fn exchange(session: &TestSession, frames: &[&[u8]], wait_ms: i32) -> Option<Vec<Vec<u8>>> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::DEALER).expect("dealer");
    socket.set_linger(0).expect("linger");
    socket.set_rcvtimeo(wait_ms).expect("rcvtimeo");
    socket
        .connect(&format!("ipc://{}", session.socket.display()))
        .expect("connect");
    socket.send_multipart(frames, 0).expect("send");
    socket.recv_multipart(0).ok()
}

/// Checks the envelope of a refusal and returns its `payload.error`.
fn assert_refusal(answer: &Value, session: &TestSession, code: &str, what: &str) -> Value {
    assert_eq!(answer["type"], "response", "{what}: {answer}");
    assert_eq!(answer["version"], 1, "{what}: {answer}");
    assert_eq!(
        answer["group"], "main",
        "{what}: group comes from the socket: {answer}"
    );
    assert_eq!(answer["source"], "core", "{what}: {answer}");
    assert!(
        answer["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{what}: {answer}"
    );
    assert!(
        answer["payload"]["result"].is_null(),
        "{what}: result must be null: {answer}"
    );
    let error = answer["payload"]["error"].clone();
    assert_eq!(error["code"], code, "{what}: {answer}");
    assert_eq!(error["retriable"], false, "{what}: {answer}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty() && m.len() <= 512),
        "{what}: {answer}"
    );
    assert!(
        !answer.to_string().contains(&session.id),
        "{what}: session id in a refusal: {answer}"
    );
    error
}

#[rustfmt::skip]
fn hostile_cases() -> Vec<Case> {
    const M: &str = "MALFORMED_MESSAGE";
    const BIG: &str = "PAYLOAD_TOO_LARGE";
    const UNKNOWN: &str = "UNKNOWN_TOOL";
    let info = "tool.invoke.get_session_info";
    let nested = |depth: usize| req(info, "d", &format!(r#"{{"a":{}{}}}"#, "[".repeat(depth - 2), "]".repeat(depth - 2)));
    let dup = |tail: &str| format!(r#"{{"topic":"{info}","correlation":"c","arguments":{{}},{tail}}}"#);
    let mut oversize = req(info, "big", r#"{"pad":""}"#).into_bytes();
    oversize.resize((1 << 20) + 1, b' ');
    let mut cases = vec![
        case("1 MiB + 1", oversize, BIG, None),
        case("depth 65", nested(65), M, None),
        case("depth 10000", nested(10_000), M, None),
        case("invalid UTF-8", b"{\"topic\":\"\xff\xfe\",\"correlation\":\"c\",\"arguments\":{}}".to_vec(), M, None),
        case("lone surrogate", req(info, "c", "{}").replace("\"c\"", r#""\ud800""#), M, None),
        case("raw NUL in a string", req(info, "c", "{}").replace("\"c\"", "\"c\0\""), M, None),
        case("empty frame", "", M, None),
        case("array", "[1,2,3]", M, None),
        case("null", "null", M, None),
        case("number", "42", M, None),
        case("string", r#""tool.invoke.get_session_info""#, M, None),
        case("true", "true", M, None),
        case("missing topic", r#"{"correlation":"c","arguments":{}}"#, M, Some("topic")),
        case("missing correlation", format!(r#"{{"topic":"{info}","arguments":{{}}}}"#), M, Some("correlation")),
        case("missing arguments", format!(r#"{{"topic":"{info}","correlation":"c"}}"#), M, Some("arguments")),
        case("topic number", r#"{"topic":7,"correlation":"c","arguments":{}}"#, M, Some("topic")),
        case("correlation object", format!(r#"{{"topic":"{info}","correlation":{{"a":1}},"arguments":{{}}}}"#), M, Some("correlation")),
        case("arguments array", req(info, "c", "[]"), M, Some("arguments")),
        case("arguments string", req(info, "c", r#""{}""#), M, Some("arguments")),
        case("arguments null", req(info, "c", "null"), M, Some("arguments")),
        case("__proto__ in arguments", req(info, "c", r#"{"__proto__":{"admin":true}}"#), "VALIDATION_FAILED", None),
        case("unknown tool", req("tool.invoke.rm_rf", "c", "{}"), UNKNOWN, Some("topic")),
        case("no prefix", req("get_session_info", "c", "{}"), UNKNOWN, Some("topic")),
        case("path traversal", req("tool.invoke.../../etc/passwd", "c", "{}"), UNKNOWN, Some("topic")),
        case("NUL in topic", req("tool.invoke.get_session_info\0", "c", "{}"), UNKNOWN, Some("topic")),
        case("10 KB topic", req(&format!("tool.invoke.{}", "a".repeat(10_240)), "c", "{}"), UNKNOWN, Some("topic")),
        case("correlation 129", req(info, &"c".repeat(129), "{}"), M, Some("correlation")),
        case("correlation 1 MB", req(info, &"c".repeat(1_000_000), "{}"), M, Some("correlation")),
        case("NaN", req(info, "c", r#"{"x":NaN}"#), M, None),
        case("Infinity", req(info, "c", r#"{"x":Infinity}"#), M, None),
        case("-Infinity", req(info, "c", r#"{"x":-Infinity}"#), M, None),
        case("trailing garbage", req(info, "c", "{}") + "}garbage", M, None),
        case("second object", req(info, "c", "{}") + &req(info, "d", "{}"), M, None),
        case("BOM prefix", format!("\u{feff}{}", req(info, "c", "{}")), M, None),
        case("argument over 100 KiB", req(info, "c", &format!(r#"{{"blob":"{}"}}"#, "x".repeat(100 << 10))), BIG, Some("blob")),
        case("duplicate extra key", dup(r#""group":"a","group":"b""#), M, Some("group")),
        case("duplicate arguments, last bad", dup(r#""arguments":[]"#), M, Some("arguments")),
    ];
    for extra in ["group", "source", "id", "session", "version", "__proto__", "constructor"] {
        let mut object: serde_json::Map<String, Value> = serde_json::from_str(&req(info, "c", "{}")).expect("object");
        object.insert(extra.into(), json!("admin"));
        cases.push(case(&format!("extra field {extra}"), Value::Object(object).to_string(), M, Some(extra)));
    }
    cases
}

#[test]
fn every_hostile_message_gets_a_structured_audited_refusal() {
    let mut core = TestCore::start(CONFIG);
    let session = core.open_session("main");
    let cases = hostile_cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    for (name, body, code, field) in &cases {
        let frames =
            exchange(&session, &[body], 15_000).unwrap_or_else(|| panic!("{name}: no answer"));
        assert_eq!(frames.len(), 1, "{name}: a DEALER gets one frame back");
        let size = frames[0].len();
        assert!(
            size < 4096,
            "{name}: answer of {size} bytes echoes the input"
        );
        let answer: Value = serde_json::from_slice(&frames[0]).expect("answers are JSON");
        let error = assert_refusal(&answer, &session, code, name);
        if let Some(field) = field {
            assert_eq!(error["field"], *field, "{name}: {answer}");
        }
        if name.starts_with("correlation") {
            assert_eq!(
                answer["correlation"], "",
                "{name}: an over-long correlation is echoed"
            );
        }
    }
    assert!(core.alive(), "core died: {}", core.log());
    let info = session.ipc(&["get_session_info"]).result();
    assert_eq!(info["group"], "main");
    let events = close(&core, &session);
    assert_eq!(
        rejections(&events, &session),
        cases.len(),
        "one rejection per message"
    );
}

#[test]
fn duplicate_keys_do_not_smuggle_a_second_value() {
    // A repeated key is ambiguous JSON. The core may refuse it or take one
    // value, but what it answers, audits and acts on must be the same value.
    let core = TestCore::start(CONFIG);
    let session = core.open_session("main");
    let raw = r#"{"topic":"tool.invoke.nope","correlation":"c1","arguments":{},"topic":"tool.invoke.get_session_info","correlation":"c2"}"#;
    let frames = exchange(&session, &[raw.as_bytes()], 15_000).expect("answer");
    let answer: Value = serde_json::from_slice(&frames[0]).expect("JSON");
    assert_eq!(answer["group"], "main");
    let error = &answer["payload"]["error"];
    if error.is_null() {
        assert_eq!(answer["topic"], "tool.invoke.get_session_info", "{answer}");
        assert_eq!(answer["correlation"], "c2", "{answer}");
        assert_eq!(answer["payload"]["result"]["session"], session.id.as_str());
    } else {
        assert_eq!(error["code"], "MALFORMED_MESSAGE", "{answer}");
    }
    let events = core.wait_for_audit("the answer", |events| {
        events.iter().any(|e| e["kind"] == "response.sent")
    });
    let sent = events
        .iter()
        .find(|e| e["kind"] == "response.sent")
        .expect("sent");
    assert_eq!(
        sent["correlation"], answer["correlation"],
        "audit and answer disagree"
    );
    assert_eq!(sent["topic"], answer["topic"], "audit and answer disagree");
    if error.is_null() {
        assert!(events
            .iter()
            .any(|e| e["kind"] == "request.routed" && e["tool"] == "get_session_info"));
    }
}

#[test]
fn over_the_zmq_cap_the_connection_is_dropped_and_the_core_stays_up() {
    let mut core = TestCore::start(CONFIG);
    let session = core.open_session("main");
    let other = core.open_session("main");
    let mut huge = req("tool.invoke.get_session_info", "huge", r#"{"pad":""}"#).into_bytes();
    huge.resize(5 << 20, b' ');
    assert!(
        exchange(&session, &[&huge], 3_000).is_none(),
        "a 5 MiB frame must get no answer"
    );
    assert!(core.alive(), "core died: {}", core.log());
    assert_eq!(session.ipc(&["get_session_info"]).result()["group"], "main");
    assert_eq!(other.ipc(&["get_session_info"]).result()["group"], "main");
    let events = core.audit_events();
    assert!(
        !events
            .iter()
            .any(|e| e["kind"] == "request.received" && e["bytes"].as_u64() > Some(4 << 20)),
        "a frame over the cap must never reach the pipeline"
    );
}

#[test]
fn frame_shapes_are_answered_on_dealer_and_req() {
    let mut core = TestCore::start(CONFIG);
    let session = core.open_session("main");
    let good = req("tool.invoke.get_session_info", "shape", "{}");
    // Three frames: refused, but answered.
    let frames = exchange(&session, &[b"a", good.as_bytes(), b"c"], 15_000).expect("answer");
    let answer: Value = serde_json::from_slice(frames.last().expect("frame")).expect("JSON");
    assert_refusal(&answer, &session, "MALFORMED_MESSAGE", "three frames");
    // Two frames whose first is not a delimiter: refused.
    let frames = exchange(&session, &[b"x", good.as_bytes()], 15_000).expect("answer");
    let answer: Value = serde_json::from_slice(frames.last().expect("frame")).expect("JSON");
    assert_refusal(&answer, &session, "MALFORMED_MESSAGE", "two frames");
    // A DEALER that speaks REQ-style (empty delimiter) gets the delimiter back.
    let frames = exchange(&session, &[b"", good.as_bytes()], 15_000).expect("answer");
    assert_eq!(frames.len(), 2, "delimiter echoed");
    assert!(frames[0].is_empty());
    let answer: Value = serde_json::from_slice(&frames[1]).expect("JSON");
    assert_eq!(answer["payload"]["result"]["group"], "main", "{answer}");
    // A real REQ socket gets its answer, valid or not.
    let ctx = zmq::Context::new();
    for (body, ok) in [(good.as_bytes(), true), (&b"{not json"[..], false)] {
        let socket = ctx.socket(zmq::REQ).expect("req");
        socket.set_linger(0).expect("linger");
        socket.set_rcvtimeo(15_000).expect("rcvtimeo");
        socket
            .connect(&format!("ipc://{}", session.socket.display()))
            .expect("connect");
        socket.send(body, 0).expect("send");
        let reply = socket.recv_bytes(0).expect("a REQ socket gets an answer");
        let answer: Value = serde_json::from_slice(&reply).expect("JSON");
        if ok {
            assert_eq!(answer["payload"]["result"]["group"], "main", "{answer}");
        } else {
            assert_refusal(&answer, &session, "MALFORMED_MESSAGE", "REQ garbage");
        }
    }
    assert!(core.alive(), "core died: {}", core.log());
    let events = close(&core, &session);
    assert_eq!(
        rejections(&events, &session),
        3,
        "three frame-shape rejections"
    );
}

#[test]
fn long_or_secret_field_names_are_not_echoed() {
    let core = TestCore::start(CONFIG);
    let session = core.open_session("main");
    let long_name = "k".repeat(10_240);
    let raw = format!(
        r#"{{"topic":"tool.invoke.get_session_info","correlation":"c","arguments":{{}},"{long_name}":1}}"#
    );
    let frames = exchange(&session, &[raw.as_bytes()], 15_000).expect("answer");
    let text = String::from_utf8(frames[0].clone()).expect("UTF-8");
    let answer: Value = serde_json::from_str(&text).expect("JSON");
    let error = assert_refusal(&answer, &session, "MALFORMED_MESSAGE", "long field");
    let field = error["field"].as_str().expect("field");
    assert!(
        field.chars().count() <= 64,
        "field is {} chars",
        field.len()
    );
    assert!(
        !text.contains(&"k".repeat(65)),
        "the answer echoes the long name"
    );
    // A credential-shaped field name comes back redacted, never verbatim.
    let token = format!("ghp_{}", common::random_hex(18));
    let raw = format!(
        r#"{{"topic":"tool.invoke.get_session_info","correlation":"c","arguments":{{}},"{token}":1}}"#
    );
    let frames = exchange(&session, &[raw.as_bytes()], 15_000).expect("answer");
    let text = String::from_utf8(frames[0].clone()).expect("UTF-8");
    assert!(!text.contains(&token), "token echoed: {text}");
    assert_refusal(
        &serde_json::from_str(&text).expect("JSON"),
        &session,
        "MALFORMED_MESSAGE",
        "token field",
    );
    let log = std::fs::read_to_string(core.home.path().join("core.log")).unwrap_or_default();
    assert!(!log.contains(&token), "the token reached the core's log");
}

#[test]
fn a_topic_of_almost_a_mebibyte_gets_a_bounded_answer() {
    let core = TestCore::start(CONFIG);
    let session = core.open_session("main");
    let topic = format!("tool.invoke.{}", "t".repeat((1 << 20) - 200));
    let frames = exchange(&session, &[req(&topic, "c", "{}").as_bytes()], 15_000).expect("answer");
    assert!(
        frames[0].len() <= 4096,
        "answer of {} bytes echoes the topic",
        frames[0].len()
    );
    let answer: Value = serde_json::from_slice(&frames[0]).expect("JSON");
    assert_refusal(&answer, &session, "UNKNOWN_TOOL", "huge topic");
    assert_eq!(answer["topic"], "", "an over-long topic is not echoed");
    // Nor is it copied into the audit log.
    let events = core.wait_for_audit("the answer", |events| {
        events.iter().any(|e| e["kind"] == "response.sent")
    });
    assert!(
        events.iter().all(|e| e.to_string().len() < 4096),
        "an audit record holds the topic"
    );
}

#[test]
fn a_flood_of_connections_is_answered_in_full() {
    const PEERS: usize = 50;
    const EACH: usize = 20;
    let mut core = TestCore::start(CONFIG);
    let session = core.open_session("main");
    let ctx = zmq::Context::new();
    let workers: Vec<_> = (0..PEERS)
        .map(|peer| {
            let (ctx, endpoint) = (ctx.clone(), format!("ipc://{}", session.socket.display()));
            std::thread::spawn(move || {
                let socket = ctx.socket(zmq::DEALER).expect("dealer");
                socket.set_linger(0).expect("linger");
                socket.set_rcvtimeo(30_000).expect("rcvtimeo");
                socket.connect(&endpoint).expect("connect");
                for i in 0..EACH {
                    let body = if i % 4 == 3 {
                        format!("{{\"bad\":{peer}")
                    } else {
                        req(
                            "tool.invoke.get_session_info",
                            &format!("p{peer}-{i}"),
                            "{}",
                        )
                    };
                    socket.send(body.as_bytes(), 0).expect("send");
                }
                let mut codes = Vec::new();
                for _ in 0..EACH {
                    let Ok(reply) = socket.recv_bytes(0) else {
                        break;
                    };
                    let answer: Value = serde_json::from_slice(&reply).expect("JSON");
                    assert_eq!(answer["group"], "main");
                    let code = answer["payload"]["error"]["code"]
                        .as_str()
                        .unwrap_or("OK")
                        .to_owned();
                    codes.push(code);
                }
                codes
            })
        })
        .collect();
    let mut answered = 0;
    for worker in workers {
        let codes = worker.join().expect("worker");
        for code in &codes {
            assert!(
                ["OK", "MALFORMED_MESSAGE", "RATE_LIMITED"].contains(&code.as_str()),
                "{code}"
            );
        }
        answered += codes.len();
    }

    assert!(core.alive(), "core died: {}", core.log());
    assert_eq!(answered, PEERS * EACH, "every message must be answered");
    assert_eq!(session.ipc(&["get_session_info"]).result()["group"], "main");
}
