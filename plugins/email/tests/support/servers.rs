//! Real mail servers for tests, started per test in a temp dir: dovecot (IMAP with
//! implicit TLS and STARTTLS, LMTP on a unix socket, a passwd-file with passwords
//! made now, optionally XOAUTH2 checked against an introspection URL), an aiosmtpd
//! submission server delivering to it over LMTP, and certificates from a CA made
//! now (and a second CA nobody trusts). Only std, so the core's tests can use it too
//! (`tests/email.rs`).
//!
//! A missing server binary skips the test with a printed reason, unless
//! `CARAPACE_REQUIRE_SERVERS=1`, then it fails.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// The SDK's test certificates (std only), by path: the core's tests include this
// file without the SDK's `testing` feature.
#[path = "../../../sdk/src/testing/certs.rs"]
mod certs;
#[path = "../../../sdk/src/testing/random.rs"]
mod random;
#[path = "smtp.rs"]
mod smtp;

pub use certs::Certs;
pub use random::random_text;
pub use smtp::Smtp;

/// The test account.
pub const USER: &str = "alice@example.test";
/// A second account (recipient of sent mail).
pub const OTHER: &str = "bob@example.test";
/// A third account.
pub const THIRD: &str = "carol@example.test";

/// Whether `program` can run here; if not, prints why and tells the test to
/// return (or panics under `CARAPACE_REQUIRE_SERVERS=1`).
pub fn have(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CARAPACE_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!("{program} is required (CARAPACE_REQUIRE_SERVERS=1) but cannot run");
        }
        eprintln!("SKIPPED: {program} is not installed here");
    }
    ok
}

/// Whether dovecot, openssl and python3 with aiosmtpd are all here.
pub fn servers_available() -> bool {
    have("dovecot", &["--version"])
        && have("openssl", &["version"])
        && have("python3", &["-c", "import aiosmtpd"])
}

/// A free loopback TCP port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running child in a process group of its own, the whole group killed on drop
/// (dovecot's login and imap processes too, as a crashed server would lose them).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `port` greets with `* OK` (IMAP).
fn wait_for_greeting(port: u16, deadline: Instant) {
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).is_ok() && &buf == b"* OK" {
                let _ = s.write_all(b"z LOGOUT\r\n");
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("dovecot did not greet on {port}");
}

/// Who the daemons and the mail belong to.
fn users() -> (String, String, String) {
    let uid = std::fs::metadata("/proc/self").expect("/proc/self").uid();
    if uid == 0 {
        return ("dovecot".into(), "dovenull".into(), "dovenull".into());
    }
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&uid.to_string().as_str())).then(|| f[0].to_owned())
            })
        })
        .or_else(|| std::env::var("USER").ok())
        .expect("the current user's name");
    (name.clone(), name.clone(), name)
}

/// A dovecot for the tests.
pub struct Dovecot {
    /// Its directory.
    pub dir: PathBuf,
    /// IMAP with STARTTLS.
    pub imap_port: u16,
    /// IMAP over TLS.
    pub imaps_port: u16,
    /// The LMTP socket.
    pub lmtp: PathBuf,
    /// Passwords by user.
    pub passwords: Vec<(String, String)>,
    process: Option<Running>,
}

impl Dovecot {
    /// Starts one in `dir` (with `certs`), users [`USER`] and [`OTHER`] with passwords
    /// made now; with `introspect`, XOAUTH2 bearers are checked against that URL.
    pub fn start(dir: &Path, certs: &Certs, introspect: Option<&str>) -> Dovecot {
        let dir = dir.join("dovecot");
        std::fs::create_dir_all(dir.join("home")).expect("dirs");
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("mode");
        let (internal, login, mail) = users();
        let passwords = vec![
            (USER.to_owned(), random_text(20)),
            (OTHER.to_owned(), random_text(20)),
            (THIRD.to_owned(), random_text(20)),
        ];
        let passwd: String = passwords
            .iter()
            .map(|(u, p)| format!("{u}:{{PLAIN}}{p}::::::\n"))
            .collect();
        std::fs::write(dir.join("passwd"), passwd).expect("passwd");
        for (user, _) in &passwords {
            let home = dir.join("home").join(user);
            std::fs::create_dir_all(&home).expect("home");
            let _ = Command::new("chown")
                .arg(format!("{mail}:"))
                .arg(&home)
                .status();
        }
        let (imap_port, imaps_port) = (free_port(), free_port());
        let d = dir.display();
        let oauth = match introspect {
            Some(url) => {
                std::fs::write(
                    dir.join("oauth2.conf"),
                    format!("introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n"),
                )
                .expect("oauth2.conf");
                format!("passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {d}/oauth2.conf\n}}\n")
            }
            None => String::new(),
        };
        let config = format!(
            r#"base_dir = {d}/run
state_dir = {d}/state
instance_name = carapace-test-{imap_port}
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = 0
first_valid_gid = 0
auth_failure_delay = 0
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain login xoauth2 oauthbearer
{oauth}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={mail} gid={mail} home={d}/home/%u allow_all_users=yes
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Archive {{
    auto = create
    special_use = \Archive
  }}
  mailbox Trash {{
    auto = create
    special_use = \Trash
  }}
  mailbox "Sent Messages" {{
    auto = create
    special_use = \Sent
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
"#,
            cert = certs.cert.display(),
            key = certs.key.display(),
        );
        std::fs::write(dir.join("dovecot.conf"), config).expect("config");
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("dovecot starts");
        let process = Running(child);
        wait_for_greeting(imap_port, Instant::now() + Duration::from_secs(10));
        Dovecot {
            lmtp: dir.join("run/lmtp"),
            dir,
            imap_port,
            imaps_port,
            passwords,
            process: Some(process),
        }
    }

    /// `user`'s password.
    pub fn password(&self, user: &str) -> String {
        self.passwords
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.clone())
            .expect("a test user")
    }

    /// Stops it now (a server that went away).
    pub fn stop(&mut self) {
        self.process.take();
        std::thread::sleep(Duration::from_millis(100));
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }
}

impl Dovecot {
    /// Puts `raw` into `user`'s INBOX as a new Maildir file (owned like the mail),
    /// as a delivery would.
    pub fn deliver_file(&self, user: &str, raw: &str) {
        let home = self.dir.join("home").join(user);
        let maildir = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
        }
        let name = format!("{}.test.{}", random_text(10), std::process::id());
        std::fs::write(maildir.join("new").join(name), raw).expect("message");
        let owner = std::fs::metadata(&home).expect("home").uid();
        let _ = Command::new("chown")
            .arg("-R")
            .arg(owner.to_string())
            .arg(&maildir)
            .status();
    }

    /// Delivers `raw` (CRLF lines) to `to` over dovecot's LMTP socket, as a mail
    /// server's delivery would, with `from` as the envelope sender.
    pub fn deliver_lmtp(&self, from: &str, to: &str, raw: &[u8]) {
        use std::io::BufRead;
        let stream = std::os::unix::net::UnixStream::connect(&self.lmtp).expect("LMTP socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        // The last line of a reply (`250 ok`, not `250-...`), checked for `code`.
        let mut expect = |code: &str| loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("LMTP reply");
            assert!(line.starts_with(code), "LMTP: wanted {code}, got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        };
        expect("220");
        let mut say = |line: &str| {
            writer
                .write_all(format!("{line}\r\n").as_bytes())
                .expect("LMTP write");
        };
        say("LHLO test.example");
        expect("250");
        say(&format!("MAIL FROM:<{from}>"));
        expect("250");
        say(&format!("RCPT TO:<{to}>"));
        expect("250");
        say("DATA");
        expect("354");
        let text = String::from_utf8_lossy(raw);
        let stuffed: String = text
            .split("\r\n")
            .map(|l| {
                if l.starts_with('.') {
                    format!(".{l}\r\n")
                } else {
                    format!("{l}\r\n")
                }
            })
            .collect();
        say(&format!(
            "{}.",
            stuffed.trim_end_matches("\r\n").to_owned() + "\r\n"
        ));
        expect("250");
        say("QUIT");
    }

    /// The raw messages in `user`'s INBOX, read from the Maildir on disk.
    pub fn inbox_files(&self, user: &str) -> Vec<String> {
        let maildir = self.dir.join("home").join(user).join("Maildir");
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    found.push(text);
                }
            }
        }
        found
    }
}

/// A simple RFC 5322 message.
pub fn mail(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {USER}\r\nSubject: {subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{}@example.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        random_text(12)
    )
    .into_bytes()
}

/// Certificates, a dovecot and a STARTTLS submission server in `dir` (made
/// readable to dovecot's own users).
pub fn start_all(dir: &Path, introspect: Option<&str>) -> (Certs, Dovecot, Smtp) {
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("mode");
    let certs = Certs::make(dir);
    let dovecot = Dovecot::start(dir, &certs, introspect);
    let smtp = Smtp::start(dir, &certs, &dovecot, "starttls", introspect);
    (certs, dovecot, smtp)
}
