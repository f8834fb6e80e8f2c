//! Runs the real `ipc` binary against an in-test libzmq ROUTER peer (real ZeroMQ on the other end).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// What the peer does with one request: the replies to send, or `None` to
/// close the connection without answering.
type Responder = Box<dyn Fn(&Value) -> Option<Vec<Value>> + Send>;

/// A ROUTER bound on a temp socket, recording the frames (after the routing id)
/// of every message it receives.
struct Peer {
    path: PathBuf,
    received: mpsc::Receiver<Vec<Vec<u8>>>,
    _dir: tempfile::TempDir,
}

impl Peer {
    fn start(respond: impl Fn(&Value) -> Option<Vec<Value>> + Send + 'static) -> Peer {
        let respond: Responder = Box::new(respond);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ipc.sock");
        let endpoint = format!("ipc://{}", path.display());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (got_tx, got_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let context = zmq::Context::new();
            let socket = context.socket(zmq::ROUTER).expect("router");
            socket.bind(&endpoint).expect("bind");
            ready_tx.send(()).expect("ready");
            while let Ok(mut frames) = socket.recv_multipart(0) {
                let identity = frames.remove(0);
                let request: Value = frames
                    .last()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                let _ = got_tx.send(frames);
                let Some(replies) = respond(&request) else {
                    // Closing the socket ends the peer's connection unanswered.
                    return;
                };
                for reply in replies {
                    let body = serde_json::to_vec(&reply).expect("json");
                    let out: [&[u8]; 2] = [&identity, &body];
                    if socket.send_multipart(out, 0).is_err() {
                        return;
                    }
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("peer bound");
        Peer {
            path,
            received: got_rx,
            _dir: dir,
        }
    }

    /// The one message received, as a single-frame JSON value.
    fn request(&self) -> Value {
        let frames = self
            .received
            .recv_timeout(Duration::from_secs(5))
            .expect("peer received a message");
        assert_eq!(frames.len(), 1, "exactly one frame after the routing id");
        serde_json::from_slice(&frames[0]).expect("request is JSON")
    }

    fn received_nothing(&self) -> bool {
        self.received
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    }
}

fn envelope(request: &Value, correlation: &str, payload: Value) -> Value {
    json!({
        "id": "resp-1",
        "version": 1,
        "type": "response",
        "topic": request["topic"],
        "source": "core",
        "correlation": correlation,
        "timestamp": "2026-11-01T00:00:00Z",
        "group": "main",
        "payload": payload,
    })
}

fn correlation_of(request: &Value) -> String {
    request["correlation"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn ok(request: &Value, result: Value) -> Value {
    envelope(
        request,
        &correlation_of(request),
        json!({"result": result, "error": null}),
    )
}

/// Replies with `{"echo": <arguments>, "topic": <topic>}`.
fn echo_peer() -> Peer {
    Peer::start(|req| {
        Some(vec![ok(
            req,
            json!({"echo": req["arguments"], "topic": req["topic"]}),
        )])
    })
}

/// The binary under test: `CARAPACE_IPC_TEST_BIN` (e.g. the static musl build), else this build's.
fn ipc(socket: &Path) -> Command {
    let binary = std::env::var_os("CARAPACE_IPC_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_ipc").into());
    let mut command = Command::new(binary);
    command
        .env("CARAPACE_IPC_SOCKET", socket)
        .env_remove("CARAPACE_IPC_TIMEOUT")
        .stdin(Stdio::null());
    command
}

fn run(socket: &Path, args: &[&str]) -> Output {
    ipc(socket).args(args).output().expect("runs ipc")
}

fn run_with_stdin(socket: &Path, args: &[&str], input: Vec<u8>) -> Output {
    let mut child = ipc(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns ipc");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        // The client stops reading at its limit; a broken pipe is expected then.
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("ipc finishes");
    let _ = writer.join();
    output
}

fn stdout_json(output: &Output) -> Value {
    let text = String::from_utf8(output.stdout.clone()).expect("utf-8 stdout");
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    serde_json::from_str(&text).expect("stdout is JSON")
}

/// The structured error on stderr: exactly one line of JSON.
fn stderr_error(output: &Output) -> Value {
    let text = String::from_utf8(output.stderr.clone()).expect("utf-8 stderr");
    assert_eq!(text.lines().count(), 1, "one line on stderr: {text:?}");
    serde_json::from_str(&text).expect("stderr is JSON")
}

fn assert_usage_error(output: &Output) {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
    let text = String::from_utf8(output.stderr.clone()).expect("utf-8 stderr");
    let first = text.lines().next().expect("a message");
    let error: Value = serde_json::from_str(first).expect("first line is JSON");
    assert_eq!(error["code"], "USAGE");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(text.contains("usage: ipc"), "{text}");
}

#[test]
fn success_prints_the_result_and_sends_exactly_three_fields() {
    let peer = echo_peer();
    let output = run(
        &peer.path,
        &["web_fetch", r#"{"url":"https://example.com","n":[1,2]}"#],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(output.stderr.is_empty());
    assert_eq!(
        stdout_json(&output),
        json!({"echo": {"url":"https://example.com","n":[1,2]}, "topic": "tool.invoke.web_fetch"})
    );

    let request = peer.request();
    let object = request.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["arguments", "correlation", "topic"]);
    assert_eq!(
        request["topic"], "tool.invoke.web_fetch",
        "shorthand expanded"
    );
    assert_eq!(
        request["arguments"],
        json!({"url":"https://example.com","n":[1,2]})
    );
    let correlation = correlation_of(&request);
    assert_eq!(correlation.len(), 36, "{correlation}");
    assert!(carapace_ipc::parse_request(&serde_json::to_vec(&request).expect("json")).is_ok());
}

#[test]
fn a_full_topic_passes_as_is_and_arguments_default_to_an_empty_object() {
    let peer = echo_peer();
    let output = run(&peer.path, &["tool.invoke.list_files"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let request = peer.request();
    assert_eq!(request["topic"], "tool.invoke.list_files");
    assert_eq!(request["arguments"], json!({}));
}

#[test]
fn each_call_has_its_own_correlation() {
    let peer = echo_peer();
    assert!(run(&peer.path, &["a"]).status.success());
    assert!(run(&peer.path, &["a"]).status.success());
    assert_ne!(
        correlation_of(&peer.request()),
        correlation_of(&peer.request())
    );
}

#[test]
fn a_string_or_null_result_is_printed_as_json() {
    let peer = Peer::start(|req| Some(vec![ok(req, json!("line1\nline2"))]));
    let output = run(&peer.path, &["x"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, b"\"line1\\nline2\"\n");

    let peer = Peer::start(|req| Some(vec![ok(req, Value::Null)]));
    let output = run(&peer.path, &["x"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, b"null\n");
}

#[test]
fn an_error_envelope_goes_to_stderr_with_exit_1() {
    let body = json!({"code":"RATE_LIMITED","message":"slow down","retriable":true,"stage":4,"retry_after":7});
    let reply = body.clone();
    let peer = Peer::start(move |req| {
        Some(vec![envelope(
            req,
            &correlation_of(req),
            json!({"result": null, "error": reply}),
        )])
    });
    let output = run(&peer.path, &["x", "{}"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr_error(&output), body);
}

#[test]
fn an_error_with_an_empty_correlation_is_taken_as_the_answer() {
    let peer = Peer::start(|req| {
        Some(vec![envelope(
            req,
            "",
            json!({"result": null, "error": {"code":"MALFORMED_MESSAGE","message":"bad","retriable":false}}),
        )])
    });
    let output = run(&peer.path, &["x"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_error(&output)["code"], "MALFORMED_MESSAGE");
}

#[test]
fn an_answer_to_another_correlation_is_ignored() {
    let peer = Peer::start(|req| {
        Some(vec![
            envelope(
                req,
                "someone-else",
                json!({"result": "wrong", "error": null}),
            ),
            ok(req, json!("right")),
        ])
    });
    let output = run(&peer.path, &["x"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout_json(&output), json!("right"));
}

#[test]
fn only_mismatched_answers_end_in_a_timeout() {
    let peer = Peer::start(|req| {
        Some(vec![envelope(
            req,
            "someone-else",
            json!({"result": "wrong", "error": null}),
        )])
    });
    let output = ipc(&peer.path)
        .env("CARAPACE_IPC_TIMEOUT", "0.3")
        .arg("x")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_error(&output)["code"], "TIMEOUT");
}

#[test]
fn an_unreadable_answer_is_a_structured_error() {
    let peer = Peer::start(|_| Some(vec![json!({"not": "an envelope"})]));
    let output = run(&peer.path, &["x"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_error(&output)["code"], "MALFORMED_MESSAGE");
}

#[test]
fn arguments_can_come_from_stdin() {
    let peer = echo_peer();
    let output = run_with_stdin(
        &peer.path,
        &["echo", "-"],
        br#"  {"text": "from stdin", "nested": {"k": true}}
"#
        .to_vec(),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        peer.request()["arguments"],
        json!({"text": "from stdin", "nested": {"k": true}})
    );
}

#[test]
fn oversize_stdin_is_refused_without_sending() {
    let peer = echo_peer();
    let mut input = br#"{"blob":""#.to_vec();
    input.resize(carapace_ipc::MAX_MESSAGE_BYTES + 100, b'x');
    input.extend_from_slice(br#""}"#);
    let output = run_with_stdin(&peer.path, &["echo", "-"], input);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_error(&output)["code"], "PAYLOAD_TOO_LARGE");
    assert!(peer.received_nothing());
}

#[test]
fn an_oversize_request_is_refused_without_sending() {
    let peer = echo_peer();
    // Each argument is under the per-argument limit; together they are over 1 MiB.
    let mut text = String::from("{");
    for i in 0..11 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(r#""k{i}":"{}""#, "x".repeat(100_000)));
    }
    text.push('}');
    let output = run_with_stdin(&peer.path, &["echo", "-"], text.into_bytes());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(&output);
    assert_eq!(error["code"], "PAYLOAD_TOO_LARGE");
    assert!(peer.received_nothing());
}

#[test]
fn an_oversize_argument_is_refused_without_sending() {
    let peer = echo_peer();
    let args = format!(
        r#"{{"big":"{}"}}"#,
        "x".repeat(carapace_ipc::MAX_ARGUMENT_BYTES + 10)
    );
    let output = run(&peer.path, &["echo", &args]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(&output);
    assert_eq!(error["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(error["field"], "big");
    assert!(peer.received_nothing());
}

#[test]
fn a_missing_socket_fails_with_connection_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.sock");
    let output = run(&path, &["x"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(&output);
    assert_eq!(error["code"], "CONNECTION_FAILED");
    assert_eq!(error["retriable"], true);
    let message = error["message"].as_str().expect("message");
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn a_stale_socket_nobody_listens_on_fails_with_connection_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists(), "the socket file outlives its listener");
    let output = run(&path, &["x"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(&output);
    assert_eq!(error["code"], "CONNECTION_FAILED");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains(&path.display().to_string())));
}

#[test]
fn a_path_that_is_not_a_socket_fails_with_connection_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plain-file");
    std::fs::write(&path, b"").expect("write");
    let output = run(&path, &["x"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_error(&output)["code"], "CONNECTION_FAILED");
}

#[test]
fn a_peer_that_never_answers_times_out() {
    let peer = Peer::start(|_| Some(Vec::new()));
    let output = ipc(&peer.path)
        .env("CARAPACE_IPC_TIMEOUT", "0.3")
        .arg("slow_tool")
        .output()
        .expect("runs");
    // The core has the request and may still run it (an approval can come
    // late): repeating it could act twice.
    may_still_run(&output, "no answer");
    assert_eq!(peer.request()["topic"], "tool.invoke.slow_tool");
}

#[test]
fn a_stop_after_sending_says_the_call_may_still_run() {
    // The agent's shell kills ipc while the core still works on the call.
    let peer = Peer::start(|_| Some(Vec::new()));
    let child = ipc(&peer.path)
        .env("CARAPACE_IPC_TIMEOUT", "30")
        .arg("send_mail")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    // ipc takes the signals before it sends: once the core has the request,
    // a stop is reported.
    assert_eq!(peer.request()["topic"], "tool.invoke.send_mail");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    may_still_run(&child.wait_with_output().expect("finishes"), "stopped");
}

/// `ipc` ended with a non-retriable `TIMEOUT` whose message says why (`why`)
/// and that the call it sent may still run.
fn may_still_run(output: &Output, why: &str) {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(output);
    assert_eq!(error["code"], "TIMEOUT");
    assert_eq!(error["retriable"], false, "{error}");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains(why)
            && m.contains("may still run")
            && m.contains("do not repeat")),
        "{error}"
    );
}

#[test]
fn a_peer_that_never_greets_times_out_retriably() {
    // Nothing was sent: the handshake never finished, so trying again is safe.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mute.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let held = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    let output = ipc(&path)
        .env("CARAPACE_IPC_TIMEOUT", "0.3")
        .arg("x")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(&output);
    assert_eq!(error["code"], "TIMEOUT");
    assert_eq!(error["retriable"], true, "{error}");
    drop(held.join());
}

#[test]
fn a_peer_that_closes_the_connection_is_connection_failed() {
    let peer = Peer::start(|_| None);
    let output = ipc(&peer.path)
        .env("CARAPACE_IPC_TIMEOUT", "10")
        .arg("x")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(&output);
    assert_eq!(error["code"], "CONNECTION_FAILED", "{error}");
    // It closed after the request went out: the call may have run.
    assert_eq!(error["retriable"], false, "{error}");
}

#[test]
fn a_stdin_that_never_closes_times_out() {
    let peer = echo_peer();
    let mut child = ipc(&peer.path)
        .env("CARAPACE_IPC_TIMEOUT", "0.3")
        .args(["echo", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdin = child.stdin.take();
    let output = child.wait_with_output().expect("finishes");
    drop(stdin);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_error(&output)["code"], "TIMEOUT");
    assert!(peer.received_nothing());
}

#[test]
fn usage_errors_exit_2() {
    let peer = echo_peer();
    for args in [
        &[][..],
        &["echo", "{not json"][..],
        &["echo", "[1,2]"][..],
        &["echo", "\"text\""][..],
        &["echo", "{}", "extra"][..],
        &["Bad-Name"][..],
        &["tool.invoke."][..],
        &["--nope"][..],
        &["relay"][..],
    ] {
        let output = run(&peer.path, args);
        assert_usage_error(&output);
    }
    let output = run_with_stdin(&peer.path, &["echo", "-"], b"[]".to_vec());
    assert_usage_error(&output);
    for bad in ["abc", "0", "-2", "nan"] {
        let output = ipc(&peer.path)
            .env("CARAPACE_IPC_TIMEOUT", bad)
            .arg("echo")
            .output()
            .expect("runs");
        assert_usage_error(&output);
    }
    assert!(peer.received_nothing(), "no usage error sends anything");
}

#[test]
fn help_and_version_print_to_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("unused.sock");
    for flag in ["--help", "-h"] {
        let output = run(&path, &[flag]);
        assert_eq!(output.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("usage: ipc"));
        assert!(output.stderr.is_empty());
    }
    let output = run(&path, &["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("ipc {}\n", env!("CARGO_PKG_VERSION"))
    );
}
