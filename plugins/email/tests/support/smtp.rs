//! The aiosmtpd submission server (`smtp_relay.py`), delivering to dovecot over LMTP.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{free_port, Certs, Dovecot, Running};

/// The aiosmtpd submission server.
pub struct Smtp {
    /// Its port.
    pub port: u16,
    _process: Running,
}

impl Smtp {
    /// Starts it (`mode` is `starttls` or `tls`), delivering to `dovecot`.
    pub fn start(
        dir: &Path,
        certs: &Certs,
        dovecot: &Dovecot,
        mode: &str,
        introspect: Option<&str>,
    ) -> Smtp {
        let users = dir.join(format!("smtp-users-{mode}"));
        let text: String = dovecot
            .passwords
            .iter()
            .map(|(u, p)| format!("{u}:{p}\n"))
            .collect();
        std::fs::write(&users, text).expect("users");
        let port = free_port();
        // From the plugin's tests, or from the core's (the workspace root).
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = [
            root.join("tests/support/smtp_relay.py"),
            root.join("plugins/email/tests/support/smtp_relay.py"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .expect("smtp_relay.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .arg(port.to_string())
            .arg(mode)
            .arg(&certs.cert)
            .arg(&certs.key)
            .arg(&dovecot.lmtp)
            .arg(&users);
        if let Some(url) = introspect {
            command.arg(url);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the relay's first line");
        assert_eq!(line.trim(), "READY", "the SMTP relay did not start");
        Smtp {
            port,
            _process: Running(child),
        }
    }
}
