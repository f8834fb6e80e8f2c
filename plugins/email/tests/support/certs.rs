//! Certificates made at run time with `openssl`: a CA, a server certificate it
//! signed for localhost, and a second CA that signed nothing here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA and a server certificate for `localhost`/127.0.0.1 it signed, plus a
/// second CA that signed nothing here.
pub struct Certs {
    /// The CA the config trusts.
    pub ca: PathBuf,
    /// Another CA (the server's certificate is not signed by it).
    pub other_ca: PathBuf,
    /// Server certificate.
    pub cert: PathBuf,
    /// Server key.
    pub key: PathBuf,
}

impl Certs {
    /// Makes them in `dir`.
    pub fn make(dir: &Path) -> Certs {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=carapace test CA",
        ]);
        openssl(dir, &ca);
        let mut other = vec!["req", "-x509"];
        other.extend(ec);
        other.extend([
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-days",
            "2",
            "-subj",
            "/CN=other CA",
        ]);
        openssl(dir, &other);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(dir, &csr);
        std::fs::write(
            dir.join("ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
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
                "ext",
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
