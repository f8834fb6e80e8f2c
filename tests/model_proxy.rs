//! The model proxy end to end: a fake Anthropic Messages API on loopback, the
//! proxy on a Unix socket, and clients that talk to it directly and through the
//! real `ipc relay` binary.

mod common;

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use carapace::model_proxy::credentials::{ANTHROPIC_API_KEY, ANTHROPIC_OAUTH_TOKEN};
use carapace::model_proxy::{
    DayLedger, ModelConfig, ModelProxy, SessionIdentity, SessionProxy, StoreCredentials,
    UsageLedger,
};
use carapace::paths::Home;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::{mpsc, oneshot};

const PLACEHOLDER: &str = "sk-ant-placeholder-inside-the-container";
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- fake provider

/// One request as the fake provider saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct FakeState {
    seen: Mutex<Vec<Seen>>,
    /// Held back after the first text delta of the next stream until released.
    gate: Mutex<Option<oneshot::Receiver<()>>>,
    /// Set just before the fake sends `message_stop`.
    sent_last: AtomicBool,
}

struct Fake {
    addr: SocketAddr,
    state: Arc<FakeState>,
}

impl Fake {
    async fn start() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(FakeState::default());
        let served = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // As real API front ends do; without it Nagle holds the first
                // SSE frame for a delayed ACK (~40 ms) whoever the client is.
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        fake_answer(Arc::clone(&state), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake { addr, state }
    }

    fn upstream(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("seen").clone()
    }

    /// Holds the next stream after its first text delta; send to release it.
    fn hold_next_stream(&self) -> oneshot::Sender<()> {
        let (release, gate) = oneshot::channel();
        *self.state.gate.lock().expect("gate") = Some(gate);
        self.state.sent_last.store(false, Ordering::SeqCst);
        release
    }
}

type FakeBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn fake_answer(
    state: Arc<FakeState>,
    request: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let streaming = body["stream"] == json!(true);
    let model = body["model"].as_str().map(str::to_owned);
    state.seen.lock().expect("seen").push(Seen {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    });
    // Answers the proxy cannot read a usage from, and one that comes too late.
    match model.as_deref() {
        Some("no-usage") => {
            let answer = json!({"id": "msg_n", "type": "message", "content": []});
            return Ok(Response::builder()
                .header("content-type", "application/json")
                .body(full(answer))
                .unwrap_or_else(|_| Response::new(full(Value::Null))));
        }
        Some("text-usage") => {
            return Ok(Response::builder()
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from("usage: 5 tokens")).boxed())
                .unwrap_or_else(|_| Response::new(full(Value::Null))));
        }
        Some("slow") => tokio::time::sleep(Duration::from_secs(5)).await,
        _ => {}
    }
    let response = if streaming {
        let (frames, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
        tokio::spawn(stream_events(state, frames));
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (frame, rx))
        });
        Response::builder()
            .header("content-type", "text/event-stream; charset=utf-8")
            .header("cache-control", "no-cache")
            .body(StreamBody::new(stream).boxed())
    } else if parts.uri.path() == "/v1/models" {
        Response::builder()
            .header("content-type", "application/json")
            .body(full(json!({"data":[{"id":"claude-test","type":"model"}]})))
    } else if parts.uri.path() == "/v1/messages/count_tokens" {
        Response::builder()
            .header("content-type", "application/json")
            .body(full(json!({"input_tokens": 9})))
    } else {
        Response::builder()
            .header("content-type", "application/json")
            .body(full(json!({
                "id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-test", "stop_reason": "end_turn",
                "content": [{"type": "text", "text": "hello"}],
                "usage": {"input_tokens": 20, "output_tokens": 10},
            })))
    };
    Ok(response.unwrap_or_else(|_| Response::new(full(Value::Null))))
}

fn full(value: Value) -> FakeBody {
    Full::new(Bytes::from(value.to_string())).boxed()
}

fn sse(event: &str, data: Value) -> Result<Frame<Bytes>, Infallible> {
    Ok(Frame::data(Bytes::from(format!(
        "event: {event}\ndata: {data}\n\n"
    ))))
}

/// message_start (30 in), three text deltas, message_delta (12 out), message_stop.
async fn stream_events(
    state: Arc<FakeState>,
    frames: mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
) {
    let gate = state.gate.lock().expect("gate").take();
    let start = json!({"type":"message_start","message":{"id":"msg_s","type":"message",
        "role":"assistant","content":[],"model":"claude-test",
        "usage":{"input_tokens":30,"output_tokens":1}}});
    let _ = frames.send(sse("message_start", start)).await;
    let block =
        json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}});
    let _ = frames.send(sse("content_block_start", block)).await;
    let delta = |text: &str| json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}});
    let _ = frames.send(sse("content_block_delta", delta("Hel"))).await;
    if let Some(gate) = gate {
        // The rest goes only once the client has seen the first delta.
        let _ = gate.await;
    }
    for text in ["lo", "!"] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let _ = frames.send(sse("content_block_delta", delta(text))).await;
    }
    let _ = frames
        .send(sse(
            "content_block_stop",
            json!({"type":"content_block_stop","index":0}),
        ))
        .await;
    let delta = json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}});
    let _ = frames.send(sse("message_delta", delta)).await;
    state.sent_last.store(true, Ordering::SeqCst);
    let _ = frames
        .send(sse("message_stop", json!({"type":"message_stop"})))
        .await;
}

// ---------------------------------------------------------------- the proxy

struct Setup {
    fake: Fake,
    home: Home,
    ledger: Arc<DayLedger>,
    proxy: Option<SessionProxy>,
    socket: PathBuf,
    key: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// A fake provider, a home with a fresh API key stored (0600), and a running proxy.
    async fn new(config: impl FnOnce(&mut ModelConfig)) -> Setup {
        Setup::with_credential(Some(ANTHROPIC_API_KEY), config).await
    }

    async fn with_credential(
        credential: Option<&str>,
        config: impl FnOnce(&mut ModelConfig),
    ) -> Setup {
        let fake = Fake::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().join("home"));
        home.ensure_layout().expect("layout");
        let key = format!("sk-ant-real-{}", uuid::Uuid::new_v4().simple());
        if let Some(name) = credential {
            let path =
                carapace::credentials::set(&home, "model", name, key.as_bytes()).expect("store");
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&path).expect("meta").permissions(),
            );
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut model = ModelConfig {
            upstream: fake.upstream(),
            ..ModelConfig::default()
        };
        config(&mut model);
        let ledger = Arc::new(DayLedger::in_memory());
        let proxy = ModelProxy::new(
            &model,
            Arc::new(StoreCredentials::at_home(home.clone())),
            ledger.clone(),
        )
        .expect("proxy");
        std::fs::create_dir_all(home.session_dir("s1")).expect("session dir");
        let socket = carapace::model_proxy::session_socket(&home, "s1");
        let running = proxy
            .serve(
                &socket,
                SessionIdentity {
                    session_id: "s1".into(),
                    group: "main".into(),
                    task: None,
                },
            )
            .await
            .expect("serve");
        Setup {
            fake,
            home,
            ledger,
            proxy: Some(running),
            socket,
            key,
            _dir: dir,
        }
    }

    /// A streamed Messages request whose answer the fake holds after its first
    /// event: the release, the client and the body, its first frame read.
    async fn held_stream(&self) -> (oneshot::Sender<()>, Client, Incoming) {
        let release = self.fake.hold_next_stream();
        let mut client = self.unix().await;
        let response = client.send(messages(true)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        tokio::time::timeout(WAIT, body.frame())
            .await
            .expect("the held stream starts")
            .expect("a frame")
            .expect("no error");
        (release, client, body)
    }

    async fn unix(&self) -> Client {
        Client::over(
            UnixStream::connect(&self.socket)
                .await
                .expect("connect proxy"),
        )
        .await
    }
}

/// A keep-alive HTTP/1.1 client over any stream.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    async fn over<S>(stream: S) -> Client
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Client { sender }
    }

    async fn tcp(addr: &str) -> Client {
        Client::over(TcpStream::connect(addr).await.expect("connect relay")).await
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> Response<Incoming> {
        self.sender.ready().await.expect("ready");
        tokio::time::timeout(WAIT, self.sender.send_request(request))
            .await
            .expect("answered in time")
            .expect("response")
    }

    /// Sends and reads the whole answer: status, headers as text, body.
    async fn call(&mut self, request: Request<Full<Bytes>>) -> Answer {
        let response = self.send(request).await;
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let body = tokio::time::timeout(WAIT, response.into_body().collect())
            .await
            .expect("body in time")
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

struct Answer {
    status: StatusCode,
    headers: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn error_type(&self) -> String {
        let value = self.json();
        assert_eq!(value["type"], "error", "{}", self.body);
        value["error"]["type"].as_str().unwrap_or("").to_owned()
    }
}

fn messages(stream: bool) -> Request<Full<Bytes>> {
    let body = json!({
        "model": "claude-test", "max_tokens": 64, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    });
    request("POST", "/v1/messages?beta=true", body.to_string())
}

fn request(method: &str, path: &str, body: String) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("x-api-key", PLACEHOLDER)
        .header("authorization", format!("Bearer {PLACEHOLDER}"))
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

// ---------------------------------------------------------------- ipc relay

struct Relay {
    child: Child,
    addr: String,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_relay(socket: &Path) -> Relay {
    let mut child = Command::new(common::ipc_bin())
        .args(["relay", "--listen", "127.0.0.1:0", "--socket"])
        .arg(socket)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn ipc relay");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready json");
    let addr = ready["listen"].as_str().expect("listen").to_owned();
    Relay { child, addr }
}

// ---------------------------------------------------------------- tests

/// Named so that `cargo test --lib model_proxy --test model_proxy` selects these too.
mod model_proxy_e2e {
    use super::*;

    fn assert_key_swapped(setup: &Setup, seen: &Seen) {
        assert_eq!(seen.header("x-api-key"), Some(setup.key.as_str()));
        assert_eq!(seen.header("authorization"), None);
        assert_eq!(
            seen.header("host"),
            Some(setup.fake.addr.to_string().as_str())
        );
        assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
        let everything = format!("{:?}", seen);
        assert!(!everything.contains(PLACEHOLDER), "{everything}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_real_key_reaches_the_provider_and_nothing_else_does() {
        let setup = Setup::new(|_| {}).await;
        let relay = start_relay(&setup.socket);
        let mut direct = setup.unix().await;
        let mut relayed = Client::tcp(&relay.addr).await;
        for client in [&mut direct, &mut relayed] {
            for stream in [false, true] {
                let answer = client.call(messages(stream)).await;
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
                assert!(!answer.body.contains(&setup.key) && !answer.headers.contains(&setup.key));
                if stream {
                    assert!(answer.body.contains("message_stop"), "{}", answer.body);
                } else {
                    assert_eq!(answer.json()["content"][0]["text"], "hello");
                }
            }
            let models = client
                .call(request("GET", "/v1/models", String::new()))
                .await;
            assert_eq!(models.status, StatusCode::OK);
            let count = client
                .call(request("POST", "/v1/messages/count_tokens", "{}".into()))
                .await;
            assert_eq!(count.json()["input_tokens"], 9);
        }
        let seen = setup.fake.seen();
        assert_eq!(seen.len(), 8);
        for request in &seen {
            assert_key_swapped(&setup, request);
        }
        assert_eq!(seen[0].path_and_query, "/v1/messages?beta=true");
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[1].body["stream"], true);
        assert_eq!(seen[2].path_and_query, "/v1/models");
        // Two JSON (20 in, 10 out) and two streamed (30 in, 12 out) answers.
        let used = setup.ledger.session_usage("s1");
        assert_eq!((used.input_tokens, used.output_tokens), (100, 44));
        assert_eq!(
            carapace::model_proxy::UsageLedger::group_tokens_today(&*setup.ledger, "main"),
            144
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oauth_token_goes_as_a_bearer_header() {
        let setup = Setup::with_credential(Some(ANTHROPIC_OAUTH_TOKEN), |_| {}).await;
        let answer = setup.unix().await.call(messages(false)).await;
        assert_eq!(answer.status, StatusCode::OK);
        let seen = setup.fake.seen();
        let expected = format!("Bearer {}", setup.key);
        assert_eq!(seen[0].header("authorization"), Some(expected.as_str()));
        assert_eq!(seen[0].header("x-api-key"), None);
        assert!(!format!("{:?}", seen[0]).contains(PLACEHOLDER));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_provider_endpoints_are_forwarded() {
        let setup = Setup::new(|_| {}).await;
        let relay = start_relay(&setup.socket);
        let mut client = setup.unix().await;
        let mut relayed = Client::tcp(&relay.addr).await;
        for (method, path) in [
            ("POST", "/v1/complete"),
            ("GET", "/admin"),
            ("GET", "/v1/messages"),
            ("POST", "/v1/messages/../../x"),
            ("POST", "/v1/messages/%2e%2e/x"),
            ("POST", "//v1/messages"),
            ("DELETE", "/v1/models"),
            ("POST", "/v1/messages/batches"),
        ] {
            for client in [&mut client, &mut relayed] {
                let answer = client.call(request(method, path, "{}".into())).await;
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
                assert_eq!(answer.error_type(), "permission_error");
            }
        }
        // The traversal bytes exactly as written, on a raw connection.
        let mut raw = UnixStream::connect(&setup.socket).await.expect("connect");
        raw.write_all(b"POST /v1/messages/../../x?beta=true HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
        .await
        .expect("write");
        let mut text = String::new();
        tokio::time::timeout(WAIT, raw.read_to_string(&mut text))
            .await
            .expect("in time")
            .expect("read");
        assert!(text.starts_with("HTTP/1.1 403"), "{text}");
        assert!(text.contains("permission_error"), "{text}");
        assert!(setup.fake.seen().is_empty(), "nothing reached the provider");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_stream_through_as_they_come() {
        let setup = Setup::new(|_| {}).await;
        let relay = start_relay(&setup.socket);
        for via_relay in [false, true] {
            let mut client = if via_relay {
                Client::tcp(&relay.addr).await
            } else {
                setup.unix().await
            };
            let release = setup.fake.hold_next_stream();
            let response = client.send(messages(true)).await;
            assert_eq!(response.status(), StatusCode::OK);
            let mut body = response.into_body();
            let mut received = String::new();
            // The fake holds everything after the first text delta until released:
            // a proxy that buffered would never deliver it, and this would time out.
            while !received.contains("content_block_delta") {
                let frame = tokio::time::timeout(WAIT, body.frame())
                    .await
                    .expect("first event arrives while the stream is held open")
                    .expect("a frame")
                    .expect("no error");
                if let Some(data) = frame.data_ref() {
                    received.push_str(&String::from_utf8_lossy(data));
                }
            }
            assert!(
                !setup.fake.state.sent_last.load(Ordering::SeqCst),
                "the first delta arrived before the fake sent its last event"
            );
            assert!(!received.contains("message_stop"));
            release.send(()).expect("release");
            let rest = tokio::time::timeout(WAIT, body.collect())
                .await
                .expect("rest in time")
                .expect("rest")
                .to_bytes();
            received.push_str(&String::from_utf8_lossy(&rest));
            assert!(
                received.ends_with("data: {\"type\":\"message_stop\"}\n\n"),
                "{received}"
            );
            assert!(received.contains("\"text\":\"lo\""));
        }
        assert_eq!(setup.ledger.session_usage("s1").total(), 2 * 42);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_daily_budget_trips_with_a_clear_error() {
        let setup = Setup::new(|m| m.daily_token_budget = 70).await;
        let mut client = setup.unix().await;
        let first = client.call(messages(true)).await; // 42 tokens
        assert_eq!(first.status, StatusCode::OK);
        let second = client.call(messages(false)).await; // 30 more: 72 >= 70
        assert_eq!(second.status, StatusCode::OK);
        let refused = client.call(messages(false)).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.error_type(), "rate_limit_error");
        let message = refused.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(message.contains("daily token budget"), "{message}");
        assert!(
            message.contains("`main`") && message.contains("72 of 70"),
            "{message}"
        );
        assert!(
            refused.headers.contains("x-should-retry"),
            "{}",
            refused.headers
        );
        let relay = start_relay(&setup.socket);
        let relayed = Client::tcp(&relay.addr).await.call(messages(true)).await;
        assert_eq!(relayed.status, StatusCode::TOO_MANY_REQUESTS);
        // Token counting spends nothing and still works.
        let count = client
            .call(request("POST", "/v1/messages/count_tokens", "{}".into()))
            .await;
        assert_eq!(count.status, StatusCode::OK);
        assert_eq!(setup.fake.seen().len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_in_flight_together_cannot_overshoot_the_budget() {
        // 70 tokens a day; one request (max_tokens 64 plus its input) holds
        // more than that while it is in flight, so none may start beside it.
        let setup = Setup::new(|m| m.daily_token_budget = 70).await;
        let (release, _first, body) = setup.held_stream().await;
        let mut refused = Vec::new();
        for _ in 0..8 {
            let mut client = setup.unix().await;
            refused.push(tokio::spawn(
                async move { client.call(messages(false)).await },
            ));
        }
        for call in refused {
            let answer = call.await.expect("call");
            assert_eq!(
                answer.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                answer.body
            );
            let message = answer.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            assert!(message.contains("held by requests in flight"), "{message}");
        }
        assert_eq!(
            setup.fake.seen().len(),
            1,
            "only the first reached the provider"
        );
        release.send(()).expect("release");
        tokio::time::timeout(WAIT, body.collect())
            .await
            .expect("rest in time")
            .expect("rest");
        // Settled at 42 of 70, nothing held: the next request may start.
        let next = setup.unix().await.call(messages(false)).await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.body);
        assert_eq!(setup.ledger.group_usage_today("main").total(), 72);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_hangs_up_early_is_charged_what_it_held() {
        // The provider bills the whole answer even when the client stops
        // reading before `message_delta` carries the output count; the proxy
        // charges what it held for the request (max_tokens 64 plus the input).
        let setup = Setup::new(|m| m.daily_token_budget = 1_000_000).await;
        let (release, client, body) = setup.held_stream().await;
        drop(body);
        drop(client);
        release.send(()).expect("release");
        let deadline = tokio::time::Instant::now() + WAIT;
        let charged = loop {
            let charged = setup.ledger.group_usage_today("main").total();
            if charged > 0 || tokio::time::Instant::now() > deadline {
                break charged;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            charged >= 64,
            "a cut-off answer is charged at least its max_tokens, not only what was read: {charged}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_without_a_usage_and_answers_too_late_are_charged_what_they_held() {
        // An answer whose usage the proxy cannot read, or that never came in
        // time, may still have been run and billed: it must not be free, or
        // an agent would have a way past its cap.
        let setup = Setup::new(|m| {
            m.daily_token_budget = 1_000_000;
            m.upstream_timeout_secs = 1;
        })
        .await;
        let mut client = setup.unix().await;
        let with_model = |model: &str| {
            let body = json!({
                "model": model, "max_tokens": 64,
                "messages": [{"role": "user", "content": "hi"}],
            });
            request("POST", "/v1/messages", body.to_string())
        };
        let mut charged = 0;
        for model in ["no-usage", "text-usage"] {
            let answer = client.call(with_model(model)).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            let now = setup.ledger.group_usage_today("main").total();
            assert!(
                now >= charged + 64,
                "{model}: charged {now} after {charged}"
            );
            charged = now;
        }
        let late = setup.unix().await.call(with_model("slow")).await;
        assert_eq!(late.status, StatusCode::GATEWAY_TIMEOUT, "{}", late.body);
        let now = setup.ledger.group_usage_today("main").total();
        assert!(
            now >= charged + 64,
            "a timed-out request: charged {now} after {charged}"
        );
        // Nothing stays held once each is settled.
        let held: u64 = setup.ledger.today().iter().map(|d| d.reserved).sum();
        assert_eq!(held, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_the_proxy_cannot_meter_is_refused() {
        // A second `max_tokens` (the provider may take the last) or one that is
        // not a whole number would make the estimate guess; such a request is refused.
        let setup = Setup::new(|m| m.daily_token_budget = 1_000_000).await;
        let mut client = setup.unix().await;
        for body in [
            r#"{"model":"claude-test","max_tokens":1,"max_tokens":100000,"messages":[]}"#,
            r#"{"model":"claude-test","max_tokens":"100000","messages":[]}"#,
            r#"{"model":"claude-test","max_tokens":1e9,"messages":[]}"#,
            r#"["not", "an", "object"]"#,
            r#"{"model":"claude-test","#,
        ] {
            let answer = client
                .call(request("POST", "/v1/messages", body.to_owned()))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{body}: {}",
                answer.body
            );
            assert_eq!(answer.error_type(), "invalid_request_error");
        }
        assert!(setup.fake.seen().is_empty(), "nothing reached the provider");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_credential_is_a_clear_error() {
        let setup = Setup::with_credential(None, |_| {}).await;
        let answer = setup.unix().await.call(messages(false)).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.error_type(), "authentication_error");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            message.contains("carapace auth set --plugin model anthropic_api_key"),
            "{message}"
        );
        assert!(setup.fake.seen().is_empty());
        assert!(setup.home.root().exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unusable_credential_is_reported_without_its_host_path() {
        let setup = Setup::new(|_| {}).await;
        // A key file the proxy may not use (group-readable).
        let dir = setup.home.root().join("keys/model");
        for entry in std::fs::read_dir(&dir).expect("keys/model") {
            let path = entry.expect("entry").path();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
                .expect("chmod");
        }
        let answer = setup.unix().await.call(messages(false)).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.body
        );
        assert!(
            !answer
                .body
                .contains(setup.home.root().to_str().expect("utf-8")),
            "a host path reached the container: {}",
            answer.body
        );
        assert!(setup.fake.seen().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversize_request_is_refused() {
        let setup = Setup::new(|m| m.max_request_bytes = 4096).await;
        let mut client = setup.unix().await;
        let big =
            json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(5000)}]});
        let answer = client
            .call(request("POST", "/v1/messages", big.to_string()))
            .await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer.error_type(), "request_too_large");
        // Chunked, without a content-length: cut off while reading.
        let mut raw = UnixStream::connect(&setup.socket).await.expect("connect");
        let mut text =
            b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..5 {
            text.extend_from_slice(b"400\r\n");
            text.extend_from_slice(&[b'y'; 0x400]);
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"0\r\n\r\n");
        raw.write_all(&text).await.expect("write");
        let mut head = vec![0u8; 64];
        let n = tokio::time::timeout(WAIT, raw.read(&mut head))
            .await
            .expect("in time")
            .expect("read");
        let head = String::from_utf8_lossy(&head[..n]).into_owned();
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(setup.fake.seen().is_empty());
        // A request under the limit still goes through.
        assert_eq!(client.call(messages(false)).await.status, StatusCode::OK);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_removes_the_socket_which_was_private() {
        let mut setup = Setup::new(|_| {}).await;
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&setup.socket)
                .expect("socket")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        if let Some(proxy) = setup.proxy.take() {
            proxy.shutdown().await;
        }
        assert!(!setup.socket.exists());
    }

    /// Time to the first body byte of a streamed answer, direct vs through the proxy
    /// (and through `ipc relay` too). Prints p50s; asserts nothing about time.
    /// `cargo test --test model_proxy ttfb -- --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ttfb_overhead_report() {
        const ROUNDS: usize = 200;
        let setup = Setup::new(|_| {}).await;
        let relay = start_relay(&setup.socket);
        let mut direct = Client::tcp(&setup.fake.addr.to_string()).await;
        let mut proxied = setup.unix().await;
        let mut relayed = Client::tcp(&relay.addr).await;
        let mut samples = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..ROUNDS + 10 {
            for (i, client) in [&mut direct, &mut proxied, &mut relayed]
                .into_iter()
                .enumerate()
            {
                let started = Instant::now();
                let response = client.send(messages(true)).await;
                let mut body = response.into_body();
                let _first = body.frame().await;
                let elapsed = started.elapsed();
                let _ = body.collect().await;
                if round >= 10 {
                    samples[i].push(elapsed);
                }
            }
        }
        let p50 = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let [mut d, mut p, mut r] = samples;
        let (d, p, r) = (p50(&mut d), p50(&mut p), p50(&mut r));
        println!(
            "TTFB p50 over {ROUNDS} streamed requests: direct {:?}, via proxy {:?} (+{:?}), \
         via ipc relay + proxy {:?} (+{:?})",
            d,
            p,
            p.saturating_sub(d),
            r,
            r.saturating_sub(d)
        );
    }
}
