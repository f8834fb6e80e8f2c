//! `carapace auth login` (issue 17, part 3) against a stand-in OAuth2 provider
//! speaking real HTTP on loopback (`tests/fixtures/oauth/server.py`); the test
//! plays the browser. Rule: the refresh token ends up only in the plugin's
//! credentials (0600), never on the terminal; an answer whose `state` differs,
//! a refusal, or tokens without a refresh token store nothing.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The stand-in provider, killed when dropped.
struct Provider {
    child: Child,
    port: u16,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider(mode: &str, refresh: &str) -> Provider {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oauth/server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([mode, refresh])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port");
    Provider {
        port: line.trim().parse().expect("a port"),
        child,
    }
}

/// A home whose config points `[auth.email]` at `port`.
fn home(port: u16) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "[auth.email]\nclient_id = \"carapace-test\"\n\
             authorize_url = \"http://127.0.0.1:{port}/authorize\"\n\
             token_url = \"http://127.0.0.1:{port}/token\"\n\
             device_url = \"http://127.0.0.1:{port}/device\"\n\
             scopes = [\"mail\", \"offline_access\"]\n"
        ),
    )
    .expect("config");
    home
}

fn login(home: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_carapace"))
        .arg("--home")
        .arg(home)
        .args(["auth", "login", "--plugin", "email", "--timeout", "20"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carapace")
}

/// One raw GET of `url` (http, loopback); the `Location` of the answer, if any.
fn get(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://").expect("http");
    let (authority, path) = rest.split_once('/').expect("a path");
    let mut stream = TcpStream::connect(authority).expect("connect");
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
        .lines()
        .find_map(|l| l.strip_prefix("Location: ").map(str::to_owned))
}

/// Reads the child's stdout until the authorization URL, and hands back the rest.
fn authorization_url(child: &mut Child) -> (String, BufReader<std::process::ChildStdout>) {
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "no URL printed"
        );
        if line.starts_with("http://") {
            return (line.trim().to_owned(), out);
        }
    }
}

/// Waits for the child; (success, everything it printed).
fn finish(mut child: Child, mut rest: impl Read) -> (bool, String) {
    let mut printed = String::new();
    rest.read_to_string(&mut printed).expect("stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut printed)
        .expect("stderr");
    (child.wait().expect("wait").success(), printed)
}

fn stored(home: &Path, name: &str) -> Option<(String, u32)> {
    let home = carapace::paths::Home::at(home.to_owned());
    let path = carapace::credentials::plugin_store_dir(&home, "email").join(name);
    let text = std::fs::read_to_string(&path).ok()?;
    let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
    Some((text, mode))
}

/// The `sign-ins` check of `carapace doctor --json`.
fn doctor_sign_ins(home: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_carapace"))
        .arg("--home")
        .arg(home)
        .args(["doctor", "--json"])
        .output()
        .expect("doctor");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == "sign-ins"))
        .cloned()
        .unwrap_or_else(|| panic!("no sign-ins check: {report}"))
}

#[test]
fn the_code_flow_stores_the_refresh_token_and_never_shows_it() {
    let refresh = format!("rt-{}", common::random_hex(16));
    let provider = provider("ok", &refresh);
    let home = home(provider.port);
    let before = doctor_sign_ins(home.path());
    assert_eq!(before["status"], "warn", "{before}");
    assert!(
        before["fix"]
            .as_str()
            .is_some_and(|f| f.contains("carapace auth login --plugin email")),
        "{before}"
    );
    let mut child = login(home.path(), &[]);
    let (url, rest) = authorization_url(&mut child);
    assert!(
        url.contains("code_challenge=") && url.contains("state="),
        "{url}"
    );
    let back = get(&url).expect("the provider redirects");
    assert!(back.starts_with("http://127.0.0.1:"), "{back}");
    assert!(get(&back).is_none());
    let (ok, printed) = finish(child, rest);
    assert!(ok, "{printed}");
    assert!(
        !printed.contains(&refresh),
        "the token was shown: {printed}"
    );
    assert!(printed.contains("signed in"), "{printed}");
    assert_eq!(
        stored(home.path(), "oauth2_refresh_token"),
        Some((refresh, 0o600))
    );
    assert_eq!(
        stored(home.path(), "oauth2_client_id").map(|s| s.0),
        Some("carapace-test".to_owned())
    );
    assert_eq!(doctor_sign_ins(home.path())["status"], "ok");
}

#[test]
fn an_answer_with_another_state_or_a_refusal_stores_nothing() {
    let refresh = format!("rt-{}", common::random_hex(16));
    let provider = provider("ok", &refresh);
    let home = home(provider.port);
    // Another page answers the redirect with a state of its own.
    let mut child = login(home.path(), &[]);
    let (url, rest) = authorization_url(&mut child);
    let back = get(&url).expect("redirect");
    let forged = with_forged_state(&back);
    get(&forged);
    let (ok, printed) = finish(child, rest);
    assert!(!ok && printed.contains("state does not match"), "{printed}");
    assert_eq!(stored(home.path(), "oauth2_refresh_token"), None);

    let denying = self::provider("deny", &refresh);
    let home = self::home(denying.port);
    let mut child = login(home.path(), &[]);
    let (url, rest) = authorization_url(&mut child);
    get(&get(&url).expect("redirect"));
    let (ok, printed) = finish(child, rest);
    assert!(!ok && printed.contains("access_denied"), "{printed}");
    assert_eq!(stored(home.path(), "oauth2_refresh_token"), None);

    let stingy = self::provider("norefresh", &refresh);
    let home = self::home(stingy.port);
    let mut child = login(home.path(), &[]);
    let (url, rest) = authorization_url(&mut child);
    get(&get(&url).expect("redirect"));
    let (ok, printed) = finish(child, rest);
    assert!(!ok && printed.contains("no refresh token"), "{printed}");
    assert_eq!(stored(home.path(), "oauth2_refresh_token"), None);
}

/// `url` with its `state` parameter replaced.
fn with_forged_state(url: &str) -> String {
    let (base, query) = url.split_once('?').expect("query");
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("state="))
        .collect();
    format!("{base}?{}&state=forged", kept.join("&"))
}

#[test]
fn the_device_flow_waits_while_pending_and_stores_the_token() {
    let refresh = format!("rt-{}", common::random_hex(16));
    let provider = provider("ok", &refresh);
    let home = home(provider.port);
    let child = login(home.path(), &["--device"]);
    let (ok, printed) = finish_all(child);
    assert!(ok, "{printed}");
    assert!(printed.contains("WDJB-MJHT"), "{printed}");
    assert!(!printed.contains(&refresh), "{printed}");
    assert_eq!(
        stored(home.path(), "oauth2_refresh_token"),
        Some((refresh, 0o600))
    );
}

fn finish_all(mut child: Child) -> (bool, String) {
    let out = child.stdout.take().expect("stdout");
    finish(child, out)
}

#[test]
fn missing_or_unsafe_settings_are_refused_by_name() {
    let home = tempfile::tempdir().expect("home");
    let (ok, printed) = finish_all(login(home.path(), &[]));
    assert!(!ok && printed.contains("no [auth.email]"), "{printed}");
    std::fs::write(
        home.path().join("config.toml"),
        "[auth.email]\nclient_id = \"x\"\ntoken_url = \"http://idp.example/token\"\nauthorize_url = \"https://idp.example/a\"\n",
    )
    .expect("config");
    let (ok, printed) = finish_all(login(home.path(), &[]));
    assert!(!ok && printed.contains("auth.email.token_url"), "{printed}");
    std::fs::write(
        home.path().join("config.toml"),
        "[auth.email]\nclient_id = \"x\"\nbogus = 1\n",
    )
    .expect("config");
    let (ok, printed) = finish_all(login(home.path(), &[]));
    assert!(!ok && printed.contains("bogus"), "{printed}");
}
