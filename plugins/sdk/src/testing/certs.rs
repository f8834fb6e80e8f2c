//! Certificates for tests, made at run time with the `openssl` command (never
//! committed): a CA, a server certificate it signed for `localhost` and
//! 127.0.0.1, and a second CA that signed nothing here.
//!
//! Std only: the core's own tests include this file by path
//! (`plugins/email/tests/support/servers.rs`) without the SDK's `testing` feature.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files made, all in one directory: `ca.pem`, `other.pem`, `server.pem`,
/// `server.key` (and their keys).
pub struct Certs {
    /// The CA the configs trust.
    pub ca: PathBuf,
    /// Another CA (the server's certificate is not signed by it).
    pub other_ca: PathBuf,
    /// The server certificate (`localhost`, 127.0.0.1).
    pub cert: PathBuf,
    /// The server key.
    pub key: PathBuf,
}

/// A new P-256 key, unencrypted (`openssl req` arguments).
const NEW_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl req -x509` for a CA named `name`, its key in `key`, certificate in `pem`.
fn ca(dir: &Path, name: &str, key: &str, pem: &str) {
    let subject = format!("/CN={name}");
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &NEW_KEY,
            &[
                "-keyout",
                key,
                "-out",
                pem,
                "-days",
                "2",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        ]
        .concat(),
    );
}

impl Certs {
    /// Makes them in `dir` (keys readable by the test's servers, which may run as
    /// other users).
    pub fn make(dir: &Path) -> Certs {
        ca(dir, "carapace test CA", "ca.key", "ca.pem");
        ca(dir, "other CA", "other.key", "other.pem");
        openssl(
            dir,
            &[
                &["req"][..],
                &NEW_KEY,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        for key in ["server.key", "ca.key", "other.key"] {
            let _ = std::fs::set_permissions(
                dir.join(key),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            );
        }
        Certs {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}
