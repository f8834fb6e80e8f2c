//! The harness every integration test shares: a real `carapace` core on a temp
//! home, sessions opened through the real CLI, and calls made with the real `ipc`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The built `carapace` binary.
pub fn carapace_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_carapace"))
}

/// The `ipc` binary of this target dir, rebuilt once per test binary so it is current.
pub fn ipc_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-p", "carapace-ipc", "--bin", "ipc"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building ipc failed");
            carapace_bin().with_file_name("ipc")
        })
        .clone()
}

/// The `name` of each object in a JSON array (tools, plugins).
pub fn names(array: &Value) -> Vec<&str> {
    array
        .as_array()
        .map(|items| items.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default()
}

/// `bytes` random bytes from the kernel, as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let mut urandom = std::fs::File::open("/dev/urandom").expect("urandom");
    std::io::Read::read_exact(&mut urandom, &mut buf).expect("random");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A model API key that looks real, made now (never committed).
pub fn generated_model_key() -> String {
    format!("sk-ant-api03-{}", random_hex(24))
}

/// The fixture plugins directory (holds the Python `pytools` plugin).
/// Builds the bundled plugin `package` (its binary beside `carapace`, where the
/// core finds handlers) once per test process.
pub fn plugin_built(package: &str) {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if built.iter().any(|b| b == package) {
        return;
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {package} failed");
    built.push(package.to_owned());
}

pub fn fixture_plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugins")
}

/// Runs `carapace auth set --plugin PLUGIN NAME` on `home` with `secret` on stdin.
pub fn auth_set_at(home: &Path, plugin: &str, name: &str, secret: &str) -> Output {
    let mut child = Command::new(carapace_bin())
        .arg("--home")
        .arg(home)
        .args(["auth", "set", "--plugin", plugin, name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carapace auth set");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), secret.as_bytes())
        .expect("write the secret");
    child.wait_with_output().expect("auth set ends")
}

/// A config allowing group `main` everything and group `limited` only `list_tools`.
pub const BASIC_CONFIG: &str = r#"
[core]
log_level = "info"
[groups.main]
tools = ["*"]
[groups.limited]
tools = ["list_tools"]
rate_limit = { per_minute = 60, burst = 2 }
"#;

/// A running core on a throw-away home; stopped (or killed) on drop.
pub struct TestCore {
    pub home: tempfile::TempDir,
    child: Option<Child>,
    bundled: PathBuf,
    /// More environment for the core process (e.g. systemd's `CREDENTIALS_DIRECTORY`).
    pub env: Vec<(String, PathBuf)>,
}

impl TestCore {
    /// Starts a core with `config` and no plugins.
    pub fn start(config: &str) -> TestCore {
        Self::start_with(config, false)
    }

    /// Starts a core with `config` and the fixture plugins.
    pub fn start_with_plugins(config: &str) -> TestCore {
        Self::start_with(config, true)
    }

    fn start_with(config: &str, plugins: bool) -> TestCore {
        let mut core = Self::prepare(config, plugins);
        core.launch();
        core
    }

    /// A throw-away home with `config` (and the fixture plugins if `plugins`),
    /// not started yet: call [`launch`](Self::launch).
    pub fn prepare(config: &str, plugins: bool) -> TestCore {
        let home = tempfile::Builder::new()
            .prefix("cpt-")
            .tempdir_in("/tmp")
            .expect("temp home");
        let mut text = config.to_owned();
        if plugins {
            text.push_str(&format!(
                "\n[plugins]\ndirs = [\"{}\"]\n",
                fixture_plugins().display()
            ));
        }
        std::fs::write(home.path().join("config.toml"), text).expect("write config");
        TestCore {
            home,
            child: None,
            bundled: PathBuf::new(),
            env: Vec::new(),
        }
    }

    /// Starts a core with `config` and the bundled plugins (`plugins/`, e.g. echo).
    pub fn start_with_bundled(config: &str) -> TestCore {
        let home = tempfile::Builder::new()
            .prefix("cpt-")
            .tempdir_in("/tmp")
            .expect("temp home");
        std::fs::write(home.path().join("config.toml"), config).expect("write config");
        let mut core = TestCore {
            home,
            child: None,
            bundled: Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins"),
            env: Vec::new(),
        };
        core.launch();
        core
    }

    /// Makes a prepared core use the bundled plugins (`plugins/`) at its launch.
    pub fn use_bundled(&mut self) {
        self.bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    }

    /// Starts (or restarts) the core process on this home.
    pub fn launch(&mut self) {
        let log = std::fs::File::create(self.home.path().join("core.log")).expect("log file");
        let child = Command::new(carapace_bin())
            .arg("--home")
            .arg(self.home.path())
            .arg("start")
            .env("SENTINEL_SECRET", "must-not-reach-plugins")
            .env("CARAPACE_BUNDLED_PLUGINS", self.bundled.as_os_str())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start carapace");
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.cli(&["status", "--json"]).status.success() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("core exited at start ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("core did not start: {}", self.log());
    }

    /// The core's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Whether the core process is still alive.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGKILLs the core (no drain, no cleanup).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the core through the CLI and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.cli(&["stop"]);
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The core's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("core.log")).unwrap_or_default()
    }

    /// Runs the `carapace` CLI against this home.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(carapace_bin())
            .arg("--home")
            .arg(self.home.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run carapace")
    }

    /// Runs `carapace prompt ARGS...` and expects it to succeed; a failure shows its
    /// stderr and the core's log.
    pub fn prompt(&self, args: &[&str]) -> Output {
        let out = self.cli(&[&["prompt"], args].concat());
        assert!(
            out.status.success(),
            "prompt failed: {}\ncore log: {}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out
    }

    /// The transcript an agent session of group `main` left, read whole.
    pub fn transcript(&self, session: &str) -> String {
        let path = self
            .home
            .path()
            .join(format!("state/agent/main/{session}.jsonl"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("transcript {}: {e}", path.display()))
    }

    /// Stores `secret` as credential `name` of `plugin` with `carapace auth set`
    /// (through stdin, as a person would pipe it; never in argv).
    pub fn auth_set(&self, plugin: &str, name: &str, secret: &str) {
        let out = auth_set_at(self.home.path(), plugin, name, secret);
        assert!(
            out.status.success(),
            "auth set: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the CLI and parses its stdout as JSON (it must succeed).
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "carapace {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    /// Opens a session for `group` through the CLI.
    pub fn open_session(&self, group: &str) -> TestSession {
        let summary = self.cli_json(&["session", "open", "--group", group, "--json"]);
        TestSession {
            id: summary["id"].as_str().expect("id").to_owned(),
            socket: PathBuf::from(summary["socket"].as_str().expect("socket")),
        }
    }

    /// The audit log's entries (events only), oldest first.
    pub fn audit_events(&self) -> Vec<Value> {
        self.audit_entries()
            .into_iter()
            .map(|v| v["event"].clone())
            .collect()
    }

    /// The audit log's entries whole (`seq`, `ts`: when the core recorded it, and
    /// `event`), oldest first.
    pub fn audit_entries(&self) -> Vec<Value> {
        let out = self.cli(&["audit", "tail", "-n", "100000", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }

    /// Waits (30 s at most) until `status` shows plugin `name` in `state`
    /// (`running`, `failed`); its status entry.
    pub fn wait_plugin(&self, name: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.cli_json(&["status", "--json"]);
            let plugin = status["plugins"]
                .as_array()
                .and_then(|all| all.iter().find(|p| p["name"] == name).cloned())
                .unwrap_or(Value::Null);
            if plugin["state"] == state {
                return plugin;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never {state}: {plugin}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a high-risk call to be pending and returns the first one.
    pub fn wait_pending(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pending = self.cli_json(&["confirm", "list", "--json"]);
            if let Some(first) = pending.as_array().and_then(|a| a.first()) {
                return first.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no pending confirmation appeared"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until `cond` holds for the audit events (the writer is asynchronous).
    /// The first audit event of `kind`, once the asynchronous writer has it.
    pub fn wait_for_event(&self, kind: &str) -> Value {
        let events = self.wait_for_audit(kind, |events| events.iter().any(|e| e["kind"] == kind));
        events
            .into_iter()
            .find(|e| e["kind"] == kind)
            .expect("found")
    }

    /// Closes session `id` through the CLI; the audit once its `session.closed`
    /// line (and so the summaries its close writes) is in.
    pub fn close_session(&self, id: &str) -> Vec<Value> {
        let out = self.cli(&["session", "close", id]);
        assert!(out.status.success(), "{out:?}");
        self.wait_for_audit("the session's close", |events| {
            events
                .iter()
                .any(|e| e["kind"] == "session.closed" && e["session"] == id)
        })
    }

    pub fn wait_for_audit(&self, what: &str, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_for_audit_within(Duration::from_secs(10), what, cond)
    }

    /// As [`TestCore::wait_for_audit`], for up to `limit` (a refusal summary
    /// is written only when its window of `SUMMARY_INTERVAL` closes).
    pub fn wait_for_audit_within(
        &self,
        limit: Duration,
        what: &str,
        cond: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let events = self.audit_events();
            if cond(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "audit never showed {what}: {events:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestCore {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An open session.
#[derive(Debug, Clone)]
pub struct TestSession {
    pub id: String,
    pub socket: PathBuf,
}

/// What one `ipc` run produced.
#[derive(Debug)]
pub struct IpcRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl IpcRun {
    /// The result JSON on stdout.
    pub fn result(&self) -> Value {
        assert_eq!(self.code, 0, "expected success, got: {}", self.stderr);
        serde_json::from_str(self.stdout.trim()).expect("result JSON")
    }

    /// The structured error on stderr.
    pub fn error(&self) -> Value {
        assert_eq!(self.code, 1, "expected a structured error, got: {self:?}");
        serde_json::from_str(self.stderr.trim()).expect("error JSON")
    }
}

impl TestSession {
    /// Runs the real `ipc` binary against this session.
    pub fn ipc(&self, args: &[&str]) -> IpcRun {
        self.ipc_with(args, None, "10")
    }

    /// Runs `ipc` with optional stdin and a timeout in seconds.
    pub fn ipc_with(&self, args: &[&str], stdin: Option<&[u8]>, timeout: &str) -> IpcRun {
        use std::io::Write;
        let mut child = Command::new(ipc_bin())
            .args(args)
            .env_clear()
            .env("CARAPACE_IPC_SOCKET", &self.socket)
            .env("CARAPACE_IPC_TIMEOUT", timeout)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ipc");
        if let Some(bytes) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            let _ = pipe.write_all(bytes);
        }
        let out = child.wait_with_output().expect("ipc output");
        IpcRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Waits until the session's first plugin reports `running` (after a restart).
    pub fn wait_plugin_running(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = self.ipc(&["get_session_info"]).result();
            if info["plugins"][0]["state"] == "running" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the plugin never came back: {info}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends raw frames over libzmq (a DEALER) and returns the parsed answer, or None on timeout.
    pub fn raw(&self, body: &[u8]) -> Option<Value> {
        let ctx = zmq::Context::new();
        let socket = self.dealer(&ctx, 5000);
        socket.send(body, 0).expect("send");
        let reply = socket.recv_bytes(0).ok()?;
        Some(serde_json::from_slice(&reply).expect("answers are JSON"))
    }

    /// A libzmq DEALER connected to this session's socket, waiting `wait_ms` for answers.
    pub fn dealer(&self, ctx: &zmq::Context, wait_ms: i32) -> zmq::Socket {
        let socket = ctx.socket(zmq::DEALER).expect("dealer");
        socket.set_linger(0).expect("linger");
        socket.set_rcvtimeo(wait_ms).expect("rcvtimeo");
        socket
            .connect(&format!("ipc://{}", self.socket.display()))
            .expect("connect");
        socket
    }
}

/// A throw-away directory of plugin folders under /tmp (beside the test homes).
pub fn plugins_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cpp-")
        .tempdir_in("/tmp")
        .expect("plugins dir")
}

/// Writes the plugin folder `parent/name` around the `secret-plugin` fixture
/// handler: tools `<name>_reveal`, `<name>_fail` and `<name>_echo` (name with `-`
/// as `_`), a skill `hello.md`, and the credential `token` when `credential`.
pub fn secret_plugin(parent: &Path, name: &str, credential: bool) -> PathBuf {
    let folder = parent.join(name);
    std::fs::create_dir_all(folder.join("skills")).expect("plugin folder");
    let prefix = name.replace('-', "_");
    let closed =
        serde_json::json!({"type": "object", "additionalProperties": false, "properties": {}});
    let echo = serde_json::json!({"type": "object", "additionalProperties": false,
        "properties": {"text": {"type": "string", "maxLength": 10000}}});
    let manifest = serde_json::json!({
        "description": format!("The {name} test plugin."),
        "version": "0.1.0",
        "handler": "handler.py",
        "credentials": if credential { vec!["token"] } else { vec![] },
        "provides": {"tools": [
            {"name": format!("{prefix}_reveal"), "description": "Answer with the credential.", "arguments_schema": closed},
            {"name": format!("{prefix}_fail"), "description": "Fail, naming the credential.", "arguments_schema": closed},
            {"name": format!("{prefix}_echo"), "description": "Answer with the text.", "arguments_schema": echo},
        ]},
    });
    std::fs::write(folder.join("manifest.json"), manifest.to_string()).expect("manifest");
    let handler =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secret-plugin/handler.py");
    std::fs::copy(handler, folder.join("handler.py")).expect("handler");
    std::fs::write(
        folder.join("skills/hello.md"),
        format!("---\ndescription: Say hello with {name}\n---\n# Hello from {name}\n"),
    )
    .expect("skill");
    folder
}

/// Every file under `dir`, read (a missing `dir` gives nothing).
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => found.extend(files_under(&path)),
            Ok(t) if t.is_file() => {
                let bytes = std::fs::read(&path).unwrap_or_default();
                found.push((path, bytes));
            }
            _ => {}
        }
    }
    found
}

/// What the confinement probe (`tests/fixtures/confine/probe.py`) found, keyed
/// `op arg`; the probe itself must have run to its end.
pub fn verdicts(output: &Output) -> std::collections::BTreeMap<String, String> {
    assert!(
        output.status.success(),
        "probe failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| verdict(&serde_json::from_str(line).expect("probe JSON")))
        .collect()
}

/// One probe line as (`op arg`, result).
pub fn verdict(v: &Value) -> (String, String) {
    (
        format!(
            "{} {}",
            v["op"].as_str().unwrap_or(""),
            v["arg"].as_str().unwrap_or("")
        ),
        v["result"].as_str().unwrap_or("").to_owned(),
    )
}

/// `carapace events --json --prefix PREFIX` on `core`'s home: the follower process
/// (kill it when done) and its events, parsed, as they arrive.
pub fn follow_events(core: &TestCore, prefix: &str) -> (Child, mpsc::Receiver<Value>) {
    let mut follower = Command::new(carapace_bin())
        .arg("--home")
        .arg(core.home.path())
        .args(["events", "--json", "--prefix", prefix])
        .stdout(Stdio::piped())
        .spawn()
        .expect("carapace events");
    let stdout = follower.stdout.take().expect("stdout");
    let (lines, events) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = lines.send(value);
            }
        }
    });
    (follower, events)
}

/// The next event of `topic` from [`follow_events`] within 15 s (others are passed over).
pub fn next_event(events: &mpsc::Receiver<Value>, topic: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events.recv_timeout(left).expect("an event in time");
        if event["topic"] == topic {
            return event;
        }
    }
}
