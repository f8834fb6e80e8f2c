//! What the calendar plugin's tests share: a real radicale (`python3 -m radicale`)
//! started on a free loopback port over a temp dir with a password made at run time
//! ([`Radicale`]), raw CalDAV requests to set it up and to ask for its own expansion,
//! and the plugin run in-process on the SDK's real main loop ([`Plugin`]).
//!
//! Without radicale the tests say why and pass, unless `CARAPACE_REQUIRE_SERVERS=1`
//! (CI), where they fail.
#![allow(dead_code)]

pub mod relay;
pub mod standin;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carapace_plugin_calendar::CalendarHandler;
use carapace_plugin_sdk::testing::Harness;
use carapace_plugin_sdk::JsonRpcError;
use serde_json::{json, Value};

/// The account the tests use.
pub const USER: &str = "alice";

/// A random hex string of `bytes` bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("random bytes");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether a server is required (CI): then a missing one fails the test.
fn required() -> bool {
    std::env::var("CARAPACE_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// A radicale server on its own temp dir; stopped on drop.
pub struct Radicale {
    child: Child,
    /// Its folder: config, users, collections.
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Alice's password, made now.
    pub password: String,
    agent: ureq::Agent,
}

impl Radicale {
    /// Starts radicale, or `None` (with the reason printed) when it is not installed.
    pub fn start() -> Option<Radicale> {
        Radicale::start_with(false)
    }

    /// Starts radicale serving https with a certificate from a CA made now
    /// (`ca.pem` in its folder), or `None` as [`Radicale::start`].
    pub fn start_tls() -> Option<Radicale> {
        Radicale::start_with(true)
    }

    /// Starts radicale accepting only `Authorization: Bearer` with a token listed in
    /// its folder's `tokens` file (a small auth plugin of radicale's own API, loaded
    /// from that folder), or `None` as [`Radicale::start`].
    pub fn start_bearer() -> Option<Radicale> {
        Radicale::start_full(false, true)
    }

    fn start_with(tls: bool) -> Option<Radicale> {
        Radicale::start_full(tls, false)
    }

    fn start_full(tls: bool, bearer: bool) -> Option<Radicale> {
        let probe = Command::new("python3")
            .args(["-c", "import radicale"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            assert!(
                !required(),
                "radicale is required (CARAPACE_REQUIRE_SERVERS=1) but `python3 -m radicale` is missing: pip install radicale==3.9.0"
            );
            eprintln!("SKIPPED: radicale is not installed (pip install radicale==3.9.0)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let password = random_hex(16);
        std::fs::write(dir.path().join("users"), format!("{USER}:{password}\n")).expect("users");
        let port = free_port();
        let ssl = if tls {
            carapace_plugin_sdk::testing::certs::Certs::make(dir.path());
            format!(
                "ssl = True\ncertificate = {}\nkey = {}\n",
                dir.path().join("server.pem").display(),
                dir.path().join("server.key").display()
            )
        } else {
            String::new()
        };
        let auth = if bearer {
            std::fs::write(dir.path().join("tokens"), "").expect("tokens");
            std::fs::write(
                dir.path().join("carapace_bearer.py"),
                BEARER_AUTH.replace(
                    "TOKENS",
                    &format!("{:?}", dir.path().join("tokens").display().to_string()),
                ),
            )
            .expect("auth plugin");
            "type = carapace_bearer".to_owned()
        } else {
            format!(
                "type = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain",
                dir.path().join("users").display()
            )
        };
        let config = format!(
            "[server]\nhosts = 127.0.0.1:{port}\n{ssl}\n[auth]\n{auth}\n\n[rights]\ntype = owner_only\n\n[storage]\nfilesystem_folder = {storage}\n\n[web]\ntype = none\n\n[logging]\nlevel = warning\n",
            storage = dir.path().join("collections").display(),
        );
        std::fs::write(dir.path().join("config"), config).expect("config");
        let child = Command::new("python3")
            .env("PYTHONPATH", dir.path())
            .args(["-m", "radicale", "--config"])
            .arg(dir.path().join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("radicale starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "radicale did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut tls_config = ureq::tls::TlsConfig::builder();
        if tls {
            let pem = std::fs::read(dir.path().join("ca.pem")).expect("ca.pem");
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            tls_config = tls_config.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls_config.build())
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .max_redirects(0)
            .build()
            .into();
        Some(Radicale {
            child,
            dir,
            url: format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" }),
            password,
            agent,
        })
    }

    /// A raw request as Alice; (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let auth = if self.dir.path().join("tokens").exists() {
            // The bearer server: a token of the tests' own, listed for the set-up.
            let token = format!("setup-{}", self.password);
            let tokens = self.dir.path().join("tokens");
            let listed = std::fs::read_to_string(&tokens).unwrap_or_default();
            if !listed.contains(&token) {
                std::fs::write(&tokens, format!("{listed}{token}\n")).expect("tokens");
            }
            format!("Bearer {token}")
        } else {
            format!(
                "Basic {}",
                base64_encode(format!("{USER}:{}", self.password).as_bytes())
            )
        };
        let mut request = ureq::http::Request::builder()
            .method(ureq::http::Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(format!("{}{path}", self.url))
            .header("authorization", auth);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut response = self
            .agent
            .run(request.body(body.as_bytes().to_vec()).expect("request"))
            .expect("radicale answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// Makes Alice's calendar `name` with a display name.
    pub fn mkcalendar(&self, name: &str, display: &str) -> String {
        // The principal collection is made on first use.
        self.request("PROPFIND", &format!("/{USER}/"), &[("depth", "0")], "");
        let path = format!("/{USER}/{name}/");
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>
<D:displayname>{}</D:displayname>
<C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
</D:prop></D:set></C:mkcalendar>"#,
            carapace_plugin_calendar::dav::escape(display)
        );
        let (status, text) = self.request(
            "MKCALENDAR",
            &path,
            &[("content-type", "application/xml")],
            &body,
        );
        assert_eq!(status, 201, "MKCALENDAR {path}: {text}");
        path
    }

    /// PUTs an iCalendar object into `calendar` (a path from [`Radicale::mkcalendar`]).
    pub fn put(&self, calendar: &str, name: &str, ics: &str) {
        let (status, text) = self.request(
            "PUT",
            &format!("{calendar}{name}.ics"),
            &[("content-type", "text/calendar; charset=utf-8")],
            ics,
        );
        assert!(
            status == 201 || status == 204,
            "PUT {name}: {status} {text}"
        );
    }

    /// Writes an iCalendar object straight into `calendar`'s folder on disk (a
    /// path from [`Radicale::mkcalendar`]), as radicale's own storage would: for
    /// filling a calendar fast (a PUT costs radicale about a third of a second).
    pub fn put_file(&self, calendar: &str, name: &str, ics: &str) {
        let folder = self
            .dir
            .path()
            .join("collections/collection-root")
            .join(calendar.trim_matches('/'));
        std::fs::write(folder.join(format!("{name}.ics")), ics).expect("object file");
    }

    /// Radicale's own expansion (`<C:expand>`, RFC 4791 §9.6.5) of `calendar` over
    /// `[start, end)` (iCalendar UTC times): the calendar-data of each object.
    pub fn expanded(&self, calendar: &str, start: &str, end: &str) -> Vec<String> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"#
        );
        let (status, text) = self.request(
            "REPORT",
            calendar,
            &[("depth", "1"), ("content-type", "application/xml")],
            &body,
        );
        assert_eq!(status, 207, "REPORT expand: {text}");
        let resources =
            carapace_plugin_calendar::dav::parse_multistatus(text.as_bytes()).expect("multistatus");
        resources
            .into_iter()
            .filter_map(|r| r.calendar_data)
            .collect()
    }

    /// The plugin's config for this server.
    pub fn config(&self) -> Value {
        json!({"url": format!("{}/", self.url), "username": USER, "time_zone": "Europe/Berlin", "email": "alice@example.com"})
    }

    /// The plugin, initialized against this server with `password`.
    pub fn plugin_with(&self, config: Value, password: &str) -> Plugin {
        Plugin::start(config, password)
    }

    /// The plugin, initialized against this server.
    pub fn plugin(&self) -> Plugin {
        let plugin = Plugin::start(self.config(), &self.password);
        assert_eq!(plugin.init, Ok(json!({})), "initialize");
        plugin
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Radicale's auth plugin for the bearer tests: the login is Alice's when the
/// `Authorization: Bearer` token is one of those in the `tokens` file; Basic is refused.
const BEARER_AUTH: &str = r#"
from radicale import auth

def valid(token):
    with open(TOKENS) as f:
        return token in set(f.read().split())

class Auth(auth.BaseAuth):
    # A token it does not know is no login at all: radicale answers 401, as a
    # CalDAV server answers a stale bearer token (RFC 6750 invalid_token).
    def get_external_login(self, environ):
        value = environ.get("HTTP_AUTHORIZATION", "")
        if value.startswith("Bearer ") and valid(value[len("Bearer "):]):
            return ("alice", value[len("Bearer "):])
        return ()

    def _login(self, login, password):
        return login if login == "alice" and valid(password) else ""
"#;

/// Midnight UTC of a day (a test's window bound).
pub fn utc(year: i32, month: u32, day: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(year, month, day, 0, 0, 0)
        .single()
        .expect("a day")
}

/// Base64 (standard, padded), for the tests' own Basic header.
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The plugin on the SDK's harness, with a data dir and a credentials dir on disk.
pub struct Plugin {
    /// The harness.
    pub harness: Harness,
    /// What `initialize` answered.
    pub init: Result<Value, JsonRpcError>,
    /// Its data and credentials.
    pub dir: tempfile::TempDir,
}

impl Plugin {
    /// Starts the plugin with `config` and the credential `password`.
    pub fn start(config: Value, password: &str) -> Plugin {
        let dir = tempfile::tempdir().expect("temp dir");
        let params = init_params(dir.path(), password, config);
        let harness = Harness::start(CalendarHandler::new());
        let init = harness.initialize_with(params);
        Plugin { harness, init, dir }
    }

    /// Calls `tool`.
    pub fn call(&self, tool: &str, arguments: Value) -> Result<Value, JsonRpcError> {
        self.harness.call(tool, arguments)
    }

    /// Calls `tool`, expecting success.
    pub fn ok(&self, tool: &str, arguments: Value) -> Value {
        match self.call(tool, arguments.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{tool} {arguments}: {e:?}"),
        }
    }
}

impl Plugin {
    /// Starts the plugin on `dir` (kept by the caller) with `config` and the
    /// credentials `(name, value)`.
    pub fn start_in(
        dir: &Path,
        config: Value,
        credentials: &[(&str, &str)],
    ) -> (Harness, Result<Value, JsonRpcError>) {
        let store = dir.join("credentials");
        std::fs::create_dir_all(&store).expect("credentials dir");
        for (name, value) in credentials {
            std::fs::write(store.join(name), format!("{value}\n")).expect("credential");
        }
        let harness = Harness::start(CalendarHandler::new());
        let init = harness.initialize_with(json!({
            "plugin": "calendar",
            "version": "0.1.0",
            "config": config,
            "data_dir": dir.join("data"),
            "credentials_dir": store,
        }));
        (harness, init)
    }
}

/// `initialize` params for a data dir and a credentials dir holding `password`.
pub fn init_params(dir: &Path, password: &str, config: Value) -> Value {
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).expect("credentials dir");
    std::fs::write(credentials.join("password"), format!("{password}\n")).expect("password");
    json!({
        "plugin": "calendar",
        "version": "0.1.0",
        "config": config,
        "data_dir": dir.join("data"),
        "credentials_dir": credentials,
    })
}

/// Europe/Berlin as clients write it (RFC 5545 §3.6.5: the definition travels with
/// the object, and radicale expands with it).
pub const BERLIN: &str = "BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE";

/// An iCalendar object holding `vevents` (each `BEGIN:VEVENT...END:VEVENT`, CRLF added),
/// with [`BERLIN`] when one of them names it.
pub fn vcalendar(vevents: &[&str]) -> String {
    let mut text =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//carapace tests//EN\r\n");
    if vevents.iter().any(|v| v.contains("TZID=Europe/Berlin")) {
        for line in BERLIN.lines() {
            text.push_str(line.trim());
            text.push_str("\r\n");
        }
    }
    for v in vevents {
        for line in v.trim().lines() {
            text.push_str(line.trim());
            text.push_str("\r\n");
        }
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}
