//! Below ZeroMQ: raw bytes on a session's Unix socket, as a hostile container could send.
//!
//! Rule: whatever bytes a peer writes to a session socket (a frame header
//! announcing 1 TiB, garbage instead of a ZMTP greeting, hundreds of idle or
//! half-open connections, a peer that leaves before its answer), the core never
//! allocates what a header announces, never stops, and keeps answering every
//! other connection and session.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::{TestCore, TestSession};
use serde_json::{json, Value};

const CONFIG: &str = r#"
[groups.main]
tools = ["*"]
rate_limit = { per_minute = 100000, burst = 100000 }
"#;
/// How much the core's resident memory may grow during one hostile test.
const RSS_SLACK_KB: u64 = 50 * 1024;
/// A frame length no one should ever allocate: 1 TiB.
const ONE_TIB: u64 = 1 << 40;

/// The core's resident set size in KiB (from /proc/<pid>/status).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn connect(path: &Path) -> UnixStream {
    let stream = UnixStream::connect(path).expect("connect to the session socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    stream
}

/// A ZMTP 3.0 greeting: signature, version, mechanism, as-server, filler (64 bytes).
fn greeting(major: u8, mechanism: &str) -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, major, 0];
    let mut mech = mechanism.as_bytes().to_vec();
    mech.resize(20, 0);
    g.extend(mech);
    g.push(0); // as-server
    g.extend([0u8; 31]);
    g
}

/// A READY command frame announcing `socket_type`.
fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = vec![5];
    body.extend(b"READY");
    body.push(11);
    body.extend(b"Socket-Type");
    body.extend((socket_type.len() as u32).to_be_bytes());
    body.extend(socket_type.as_bytes());
    frame(0x04, &body)
}

/// One ZMTP 3.0 frame: `flags` (0x01 more, 0x04 command); the long form is chosen by size.
fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 9);
    if body.len() < 256 {
        out.extend([flags, body.len() as u8]);
    } else {
        out.push(flags | 0x02);
        out.extend((body.len() as u64).to_be_bytes());
    }
    out.extend(body);
    out
}

/// Reads one frame; refuses to believe a length over 8 MiB.
fn read_frame(stream: &mut UnixStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let len = if head[0] & 0x02 != 0 {
        let mut rest = [0u8; 7];
        stream.read_exact(&mut rest)?;
        let mut be = [head[1], 0, 0, 0, 0, 0, 0, 0];
        be[1..].copy_from_slice(&rest);
        u64::from_be_bytes(be)
    } else {
        u64::from(head[1])
    };
    assert!(len <= 8 << 20, "the core announced a {len}-byte frame");
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body)?;
    Ok((head[0], body))
}

/// Connects and completes the NULL-mechanism handshake as a DEALER.
fn handshake(path: &Path) -> UnixStream {
    let mut stream = connect(path);
    stream
        .write_all(&greeting(3, "NULL"))
        .expect("send greeting");
    let mut theirs = [0u8; 64];
    stream.read_exact(&mut theirs).expect("the core's greeting");
    assert_eq!(
        (theirs[0], theirs[9], theirs[10]),
        (0xFF, 0x7F, 3),
        "ZMTP 3 greeting"
    );
    assert_eq!(&theirs[12..16], b"NULL");
    stream.write_all(&ready("DEALER")).expect("send READY");
    let (flags, body) = read_frame(&mut stream).expect("the core's READY");
    assert!(
        flags & 0x04 != 0 && body.starts_with(b"\x05READY"),
        "READY expected"
    );
    stream
}

fn request(correlation: &str) -> Vec<u8> {
    let body = json!({"topic": "tool.invoke.get_session_info", "correlation": correlation, "arguments": {}});
    frame(0, body.to_string().as_bytes())
}

/// Whether the core closes the connection (EOF or reset) within the read timeout.
fn closed_by_core(stream: &mut UnixStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Core alive, memory bounded, and both sessions still answer a normal call.
fn assert_unharmed(core: &mut TestCore, rss_before: u64, sessions: &[&TestSession]) {
    assert!(core.alive(), "core died: {}", core.log());
    for session in sessions {
        let info = session.ipc(&["get_session_info"]).result();
        assert_eq!(info["session"], session.id.as_str());
    }
    let rss_after = rss_kb(core.pid());
    assert!(
        rss_after <= rss_before + RSS_SLACK_KB,
        "core RSS grew from {rss_before} kB to {rss_after} kB"
    );
}

/// A started core with two sessions, warmed up, and its RSS.
fn setup() -> (TestCore, TestSession, TestSession, u64) {
    let core = TestCore::start(CONFIG);
    let (a, b) = (core.open_session("main"), core.open_session("main"));
    for session in [&a, &b] {
        assert_eq!(session.ipc(&["get_session_info"]).result()["group"], "main");
    }
    let rss = rss_kb(core.pid());
    (core, a, b, rss)
}

#[test]
fn a_raw_zmtp_peer_is_answered_and_a_1_tib_frame_only_drops_it() {
    let (mut core, a, b, rss) = setup();
    // The raw encoder is right: a well-formed request gets its answer.
    let mut stream = handshake(&a.socket);
    stream.write_all(&request("raw-1")).expect("send");
    let (_, body) = read_frame(&mut stream).expect("answer frame");
    let answer: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(answer["correlation"], "raw-1");
    assert_eq!(answer["payload"]["result"]["group"], "main", "{answer}");
    // Then a header announcing 1 TiB, as a last frame and as a "more" frame.
    for flags in [0x02u8, 0x03] {
        let mut stream = handshake(&a.socket);
        let mut header = vec![flags];
        header.extend(ONE_TIB.to_be_bytes());
        stream.write_all(&header).expect("send header");
        let _ = stream.write_all(&[0u8; 64 << 10]);
        assert!(
            closed_by_core(&mut stream),
            "a 1 TiB frame must lose its connection"
        );
    }
    // A command frame announcing 1 TiB instead of READY.
    let mut stream = connect(&a.socket);
    stream.write_all(&greeting(3, "NULL")).expect("greeting");
    let mut header = vec![0x06u8];
    header.extend(ONE_TIB.to_be_bytes());
    stream.write_all(&header).expect("send header");
    assert!(
        closed_by_core(&mut stream),
        "a 1 TiB command must lose its connection"
    );
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

#[test]
fn garbage_instead_of_a_greeting_harms_nothing() {
    let (mut core, a, b, rss) = setup();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..8192)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let mut zmtp1_huge = vec![0xFF];
    zmtp1_huge.extend(ONE_TIB.to_be_bytes());
    zmtp1_huge.push(0);
    let mut overlong_property = greeting(3, "NULL");
    let mut body = vec![5];
    body.extend(b"READY\x0bSocket-Type\xff\xff\xff\xffDEALER");
    overlong_property.extend(frame(0x04, &body));
    let mut v2_huge = greeting(1, "NULL");
    v2_huge.extend([0x02]);
    v2_huge.extend(ONE_TIB.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", random),
        (
            "HTTP request",
            b"GET /ipc.sock HTTP/1.1\r\nHost: carapace\r\nUpgrade: websocket\r\n\r\n".to_vec(),
        ),
        ("version 0xFF", greeting(0xFF, "NULL")),
        ("version 2 then a 1 TiB frame", v2_huge),
        ("ZMTP 1.0 identity of 1 TiB", zmtp1_huge),
        ("CURVE mechanism", greeting(3, "CURVE")),
        (
            "PLAIN mechanism with junk",
            [greeting(3, "PLAIN"), vec![0xAB; 300]].concat(),
        ),
        (
            "READY as a PUB socket",
            [greeting(3, "NULL"), ready("PUB")].concat(),
        ),
        ("READY property length 4 GiB", overlong_property),
        ("all zeros", vec![0; 70_000]),
    ];
    for (name, bytes) in &cases {
        let mut stream = connect(&a.socket);
        let _ = stream.write_all(bytes);
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let _ = closed_by_core(&mut stream);
        drop(stream);
        assert!(core.alive(), "{name}: core died: {}", core.log());
    }
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

#[test]
fn hundreds_of_idle_half_open_connections_do_not_block_calls() {
    let (mut core, a, b, rss) = setup();
    let half_greeting = &greeting(3, "NULL")[..5];
    let idle: Vec<UnixStream> = (0..300)
        .map(|i| {
            let mut stream = connect(if i % 3 == 0 { &b.socket } else { &a.socket });
            if i % 2 == 0 {
                stream.write_all(half_greeting).expect("half greeting");
            }
            stream
        })
        .collect();
    // While they are held open, both sessions still answer, over libzmq and raw ZMTP.
    assert_unharmed(&mut core, rss, &[&a, &b]);
    let mut raw = handshake(&a.socket);
    raw.write_all(&request("beside-idle")).expect("send");
    let (_, body) = read_frame(&mut raw).expect("answer");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("JSON")["correlation"],
        "beside-idle"
    );
    drop(idle);
    drop(raw);
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

#[test]
fn peers_that_leave_or_never_read_do_not_stall_the_core() {
    let (mut core, a, b, rss) = setup();
    // Send a valid request and close before the answer.
    for i in 0..20 {
        let mut stream = handshake(&a.socket);
        stream
            .write_all(&request(&format!("gone-{i}")))
            .expect("send");
        drop(stream);
    }
    // A peer that sends many requests and never reads its answers.
    let mut deaf = handshake(&a.socket);
    for i in 0..300 {
        deaf.write_all(&request(&format!("deaf-{i}")))
            .expect("send");
    }
    assert_unharmed(&mut core, rss, &[&a, &b]);
    core.wait_for_audit("an answer attempted for each departed peer", |events| {
        (0..20).all(|i| {
            let c = format!("gone-{i}");
            events
                .iter()
                .any(|e| e["kind"] == "response.sent" && e["correlation"] == c.as_str())
        })
    });
    drop(deaf);
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

/// libzmq's `ZMQ_MAXMSGSIZE` bounds each *frame*, not a message, and libzmq
/// buffers a multipart message until its last frame: one peer sending endless
/// 4 MiB "more" frames grew a libzmq core without bound (60 frames, +240 MiB).
/// The core's own ZMTP bounds the whole message, so the peer only loses its
/// connection.
#[test]
fn many_frames_under_the_cap_are_not_buffered_without_bound() {
    let (mut core, a, b, rss) = setup();
    let mut stream = handshake(&a.socket);
    // Each frame is under the frame bound; together they are far over the message bound.
    let chunk = vec![b'x'; 512 << 10];
    // Once write_all returns, the core has read all but a socket buffer's worth.
    for _ in 0..48 {
        if stream.write_all(&frame(0x01, &chunk)).is_err() {
            break;
        }
    }
    let grown = rss_kb(core.pid()).saturating_sub(rss);
    assert!(
        closed_by_core(&mut stream),
        "a message over the bound must lose its connection"
    );
    drop(stream);
    assert_unharmed(&mut core, rss, &[&a, &b]);
    assert!(
        grown <= RSS_SLACK_KB,
        "an unfinished message grew the core by {grown} kB"
    );
    core.wait_for_audit("the drop is audited with its reason", |events| {
        events.iter().any(|e| {
            e["kind"] == "connection.protocol_error"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("message over"))
        })
    });
}

#[test]
fn connections_past_the_cap_are_refused_and_the_rest_still_answer() {
    let (mut core, a, b, rss) = setup();
    // 64 connections past the handshake are the most one session may hold.
    let held: Vec<UnixStream> = (0..64)
        .map(|i| {
            // An answer proves the core counted this one before the next comes.
            let mut stream = handshake(&a.socket);
            stream
                .write_all(&request(&format!("held-{i}")))
                .expect("send");
            read_frame(&mut stream).expect("answer");
            stream
        })
        .collect();
    let mut extra = connect(&a.socket);
    extra.write_all(&greeting(3, "NULL")).expect("greeting");
    extra.write_all(&ready("DEALER")).expect("READY");
    assert!(closed_by_core(&mut extra), "the 65th connection is refused");
    core.wait_for_audit("the refusal is audited", |events| {
        events.iter().any(|e| e["kind"] == "connection.refused")
    });
    // The other session is not affected, and a held connection still works.
    assert_eq!(b.ipc(&["get_session_info"]).result()["group"], "main");
    let mut first = held.into_iter().next().expect("held");
    first.write_all(&request("held-again")).expect("send");
    let (_, body) = read_frame(&mut first).expect("answer");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("JSON")["correlation"],
        "held-again"
    );
    // Once they are gone, the session takes new connections again.
    drop(first);
    std::thread::sleep(Duration::from_millis(200));
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

#[test]
fn a_ping_is_answered_with_its_context_and_other_commands_end_the_connection() {
    let (mut core, a, b, rss) = setup();
    let mut stream = handshake(&a.socket);
    let mut ping = vec![4];
    ping.extend(b"PING\x00\x10ctx-42");
    stream.write_all(&frame(0x04, &ping)).expect("PING");
    let (flags, body) = read_frame(&mut stream).expect("PONG");
    assert_eq!((flags, body.as_slice()), (0x04, &b"\x04PONGctx-42"[..]));
    // A second READY (or any other command) after the handshake is a protocol error.
    stream.write_all(&ready("DEALER")).expect("READY again");
    assert!(closed_by_core(&mut stream), "an unexpected command ends it");
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

#[test]
fn connections_that_never_shake_hands_are_capped_and_expire() {
    let (mut core, a, b, rss) = setup();
    // More than a session may hold while shaking hands: the rest are closed at accept.
    let mut idle: Vec<UnixStream> = (0..300).map(|_| connect(&a.socket)).collect();
    let mut closed_at_accept = 0;
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut greeting = [0u8; 64];
        // The core greets every accepted peer first; a refused one gets EOF.
        if stream.read_exact(&mut greeting).is_err() {
            closed_at_accept += 1;
        }
    }
    assert!(
        closed_at_accept >= 300 - 256,
        "only {closed_at_accept} refused"
    );
    core.wait_for_audit("refusals are audited", |events| {
        events.iter().any(|e| {
            e["kind"] == "connection.refused"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("shaking hands"))
        })
    });
    // The other session does not notice.
    assert_eq!(b.ipc(&["get_session_info"]).result()["group"], "main");
    // After the handshake deadline the idle ones are gone, and the session answers again.
    std::thread::sleep(Duration::from_secs(6));
    assert!(idle.iter_mut().all(closed_by_core), "idle peers expire");
    drop(idle);
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

#[test]
fn a_message_left_half_sent_loses_its_connection() {
    let (mut core, a, b, rss) = setup();
    let mut stream = handshake(&a.socket);
    // A header for a 1 MiB frame, a tenth of its body, then nothing.
    let mut header = vec![0x02u8];
    header.extend((1u64 << 20).to_be_bytes());
    stream.write_all(&header).expect("header");
    stream
        .write_all(&vec![b'x'; 100 << 10])
        .expect("part of the body");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    assert!(closed_by_core(&mut stream), "a stalled message is dropped");
    core.wait_for_audit("the stall is audited", |events| {
        events.iter().any(|e| {
            e["kind"] == "connection.protocol_error"
                && e["reason"].as_str().is_some_and(|r| r.contains("stalled"))
        })
    });
    assert_unharmed(&mut core, rss, &[&a, &b]);
}

#[test]
fn answers_a_peer_never_reads_stay_within_the_session_budget() {
    let core = TestCore::start_with_plugins(CONFIG);
    let (a, b) = (core.open_session("main"), core.open_session("main"));
    a.wait_plugin_running();
    assert_eq!(b.ipc(&["get_session_info"]).result()["group"], "main");
    let rss = rss_kb(core.pid());
    // 120 requests for 900 kB answers on one connection that never reads: without a
    // bound on queued answers that is over 100 MB held for one peer.
    let mut deaf = handshake(&a.socket);
    for i in 0..120 {
        let body = json!({"topic": "tool.invoke.big", "correlation": format!("big-{i}"),
                          "arguments": {"bytes": 900_000}});
        deaf.write_all(&frame(0, body.to_string().as_bytes()))
            .expect("send");
    }
    // Wait until every answer was made (a 900 kB answer takes a while in a debug build).
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let made = core
            .audit_events()
            .iter()
            .filter(|e| e["kind"] == "handler.result")
            .count();
        if made >= 120 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {made} answers made"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let grown = rss_kb(core.pid()).saturating_sub(rss);
    assert!(
        grown <= RSS_SLACK_KB,
        "unread answers grew the core by {grown} kB"
    );
    assert_eq!(b.ipc(&["get_session_info"]).result()["group"], "main");
    drop(deaf);
}

#[test]
fn a_flood_of_connections_cannot_flood_the_audit_log() {
    let (mut core, a, b, rss) = setup();
    let started = std::time::Instant::now();
    for _ in 0..400 {
        drop(connect(&a.socket));
    }
    let took = started.elapsed().as_secs_f64();
    // After a second the bucket has room again; past the first of each kind the
    // events are counted per session, not written one by one.
    std::thread::sleep(Duration::from_millis(1200));
    drop(handshake(&a.socket));
    std::thread::sleep(Duration::from_millis(500));
    let events = core.audit_events();
    let audited = events
        .iter()
        .filter(|e| {
            e["session"] == a.id.as_str()
                && e["kind"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("connection."))
        })
        .count();
    // Two buckets of a burst of 20 and 5 a second each, over the time the flood took.
    let allowed = 2.0 * (20.0 + 5.0 * (took + 1.5)) + 4.0;
    assert!(
        (audited as f64) <= allowed,
        "{audited} connection events audited for 800 (allowed {allowed:.0})"
    );
    assert!(audited <= 5, "one line per kind per interval: {audited}");
    assert_unharmed(&mut core, rss, &[&a, &b]);
    // What was left out is counted, and written when the session closes.
    let out = core.cli(&["session", "close", &a.id]);
    assert!(out.status.success(), "{out:?}");
    core.wait_for_audit("a count of the events left out", |events| {
        events.iter().any(|e| {
            e["session"] == a.id.as_str()
                && e["kind"] == "refusals.summary"
                && e["of"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("connection."))
                && e["count"].as_u64() > Some(0)
        })
    });
}

/// The attack of a peer holding its session's budget: a first frame with MORE
/// set, then one empty MORE frame every second, for ever. Each frame arrives
/// well within any per-frame stall timer; the deadline is for the whole message,
/// so the peers are dropped once it passes and the budget they held lets
/// another peer's message through.
#[test]
fn trickled_frames_do_not_hold_the_budget_past_the_message_deadline() {
    const DEADLINE_SECS: u64 = 3;
    const BUDGET: usize = 16 << 20;
    const OVERHEAD: usize = 9;
    let config = format!("[core]\nmessage_deadline_secs = {DEADLINE_SECS}\n{CONFIG}");
    let mut core = TestCore::start(&config);
    let (a, b) = (core.open_session("main"), core.open_session("main"));
    assert_eq!(a.ipc(&["get_session_info"]).result()["group"], "main");
    let rss = rss_kb(core.pid());
    // Sixteen peers take all of the budget but 32 KiB with one unfinished frame each.
    let first_len = (BUDGET - (32 << 10)) / 16 - OVERHEAD;
    let first_frame = frame(0x01, &vec![b'x'; first_len]);
    let started = std::time::Instant::now();
    let holders: Vec<UnixStream> = (0..16)
        .map(|_| {
            let mut stream = handshake(&a.socket);
            // Once written, the core has charged the frame (its header comes before its body).
            stream.write_all(&first_frame).expect("first frame");
            stream
        })
        .collect();
    let set_up = started.elapsed();
    // Each keeps its message alive with an empty MORE frame every second.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let mut streams: Vec<UnixStream> = holders
            .iter()
            .map(|s| s.try_clone().expect("clone"))
            .collect();
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let until = std::time::Instant::now() + Duration::from_secs(30);
            while !stop.load(std::sync::atomic::Ordering::SeqCst)
                && std::time::Instant::now() < until
            {
                for stream in &mut streams {
                    let _ = stream.write_all(&frame(0x01, b""));
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    // Another peer's request, larger than what is left of the budget.
    let mut victim = handshake(&a.socket);
    let padded = format!(
        r#"{{"topic": "tool.invoke.get_session_info", "correlation": "victim", "arguments": {{}}{}}}"#,
        " ".repeat(48 << 10)
    );
    victim
        .write_all(&frame(0, padded.as_bytes()))
        .expect("victim's request");
    if set_up < Duration::from_secs(DEADLINE_SECS - 2) {
        // The holders are not due yet: the request waits for budget.
        victim
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut byte = [0u8; 1];
        assert!(
            matches!(victim.read(&mut byte), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "the budget was not held: the request was answered at once"
        );
    }
    victim
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let answer = read_frame(&mut victim).map(|(_, body)| body);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let body = answer.expect("the request was answered once the holders were dropped");
    let answer: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(answer["correlation"], "victim");
    assert_eq!(answer["payload"]["result"]["group"], "main", "{answer}");
    for mut holder in holders {
        assert!(
            closed_by_core(&mut holder),
            "a peer trickling one message is dropped"
        );
    }
    trickle.join().expect("trickle");
    // Each drop is audited: the first in full (with its reason), the rest of
    // the session's window counted into one `refusals.summary` line.
    core.wait_for_audit_within(Duration::from_secs(20), "the drops are audited", |events| {
        let stalled = events
            .iter()
            .filter(|e| {
                e["kind"] == "connection.protocol_error"
                    && e["reason"].as_str().is_some_and(|r| r.contains("stalled"))
            })
            .count() as u64;
        let summarised: u64 = events
            .iter()
            .filter(|e| e["kind"] == "refusals.summary" && e["of"] == "connection.protocol_error")
            .filter_map(|e| e["count"].as_u64())
            .sum();
        stalled >= 1 && stalled + summarised >= 16
    });
    drop(victim);
    assert_unharmed(&mut core, rss, &[&a, &b]);
}
