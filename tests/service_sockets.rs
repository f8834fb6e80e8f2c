//! A handler cannot reach the user's or the system's service sockets.
//!
//! Rule: a handler started by `carapace __confine` with the spec the core builds sees no
//! directory where service sockets live (`$XDG_RUNTIME_DIR`, `/run/user`, the directory of
//! `$SSH_AUTH_SOCK`, `/tmp`, `/var/tmp`, `/run/dbus`, the container engines' sockets) but
//! its own grants. Landlock below ABI 9 does not refuse a connect to a pathname unix socket,
//! so a handler of the core's own user could otherwise ask the user's systemd (session bus)
//! for a transient unit outside every confinement, or use the ssh agent, the podman API or
//! the X server. Each socket is connectable unconfined (the paths are right) and refused
//! confined.
//!
//! One test in this binary: it sets `XDG_RUNTIME_DIR` and `SSH_AUTH_SOCK` for the process,
//! which [`confine::spec_for`] reads as the core does.

mod common;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use carapace::plugins::confine::{self, SpecRequest};
use common::verdicts;

const HANDLER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn fixture_probe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/confine/probe.py")
}

/// A directory outside `/tmp` (under the target dir), so that only the rule under test
/// hides it.
fn outside_tmp(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
}

fn unix_ops(sockets: &[&Path]) -> Vec<String> {
    sockets
        .iter()
        .flat_map(|s| ["unix".to_owned(), s.display().to_string()])
        .collect()
}

#[test]
fn a_handler_without_network_reaches_no_service_socket_of_the_user_or_the_system() {
    let support = confine::probe();
    if !support.is_confined() {
        eprintln!("SKIPPED: landlock unavailable ({support})");
        return;
    }
    // The user's runtime dir (session bus, systemd, podman, gpg-agent live there).
    let runtime = outside_tmp("cpt-xdg-");
    let bus = runtime.path().join("bus");
    std::fs::create_dir_all(runtime.path().join("podman")).expect("podman dir");
    let podman = runtime.path().join("podman/podman.sock");
    // An ssh agent's socket in a directory of its own.
    let agent_dir = outside_tmp("cpt-ssh-");
    let agent = agent_dir.path().join("agent.42");
    // An X server's socket: anywhere in /tmp.
    let x11 = tempfile::Builder::new()
        .prefix("cpt-x11-")
        .tempdir_in("/tmp")
        .expect("x11 dir");
    let display = x11.path().join("X0");
    let _listeners: Vec<UnixListener> = [&bus, &podman, &agent, &display]
        .iter()
        .map(|p| UnixListener::bind(p).expect("listener"))
        .collect();
    // Set before anything else runs in this binary (its only test).
    std::env::set_var("XDG_RUNTIME_DIR", runtime.path());
    std::env::set_var("SSH_AUTH_SOCK", &agent);

    let home = outside_tmp("cpt-home-");
    let root = std::fs::canonicalize(home.path()).expect("real");
    let folder = root.join("plugins/alpha");
    let data = root.join("data/alpha");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::create_dir_all(&data).expect("data");
    std::fs::copy(fixture_probe(), folder.join("probe.py")).expect("probe");
    let command = vec![folder.join("probe.py").display().to_string()];
    let spec = confine::spec_for(&SpecRequest {
        plugin_folder: &folder,
        data_dir: &data,
        credentials_dir: None,
        network: false,
        command: &command,
        path: std::ffi::OsStr::new(HANDLER_PATH),
        carapace_home: &root,
        run_as: None,
    });
    let sockets = [bus.as_path(), &podman, &agent, &display];
    let ops = unix_ops(&sockets);

    let open = Command::new("/usr/bin/python3")
        .arg(fixture_probe())
        .args(&ops)
        .output()
        .expect("unconfined probe");
    let open = verdicts(&open);
    for socket in sockets {
        let key = format!("unix {}", socket.display());
        assert_eq!(
            open.get(&key).map(String::as_str),
            Some("ok"),
            "{key}: {open:#?}"
        );
    }

    let mut argv = vec![folder.join("probe.py").display().to_string()];
    argv.extend(ops);
    argv.extend(["write".to_owned(), data.join("out").display().to_string()]);
    let argv = confine::launcher_command(&common::carapace_bin(), &spec, &argv);
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", HANDLER_PATH)
        .env("HOME", &data)
        .current_dir(&data)
        .stdin(Stdio::null())
        .output()
        .expect("launcher");
    let got = verdicts(&output);
    for socket in sockets {
        let key = format!("unix {}", socket.display());
        let result = got.get(&key).map(String::as_str);
        assert!(
            matches!(result, Some("ENOENT" | "EACCES")),
            "{key} reached by a confined handler: {got:#?}"
        );
    }
    // Its own grants stay usable.
    let key = format!("write {}", data.join("out").display());
    assert_eq!(got.get(&key).map(String::as_str), Some("ok"), "{got:#?}");
}
