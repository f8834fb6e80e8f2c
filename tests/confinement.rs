//! Plugin confinement and credentials, with real processes through the real launcher.
//!
//! Rule: a handler started by `carapace __confine` reads only its own credentials, writes
//! only its data dir, cannot list `$CARAPACE_HOME`, cannot open TCP unless its manifest says
//! `network`, and cannot read the core's environment or memory. Credentials are stored 0600
//! in 0700 directories, never printed, and a handler is given only its own.
//! These tests are skipped (loudly) only on a kernel without Landlock.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use carapace::credentials::{self, CredentialError};
use carapace::paths::Home;
use carapace::plugins::confine::{self, ConfineSpec, RunAs, SpecRequest};
use carapace::plugins::identity;
use common::{verdict, verdicts};

const PROBE: &str = "probe.py";
/// The `PATH` the handlers get in these tests.
const HANDLER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The system trees a python probe needs, and `program`.
fn system_and(program: PathBuf) -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = ["/usr", "/lib", "/lib64", "/bin"]
        .iter()
        .map(PathBuf::from)
        .collect();
    trees.push(program);
    trees
}

/// A fresh fake home, or `None` (the test is skipped, loudly) without Landlock.
fn confined_home() -> Option<FakeHome> {
    landlock_available().then(FakeHome::new)
}

fn landlock_available() -> bool {
    let support = confine::probe();
    if !support.is_confined() {
        eprintln!("SKIPPED: landlock unavailable ({support})");
    }
    support.is_confined()
}

/// A fake `$CARAPACE_HOME` with two plugins, `alpha` (the one confined) and `beta`.
struct FakeHome {
    _dir: Option<tempfile::TempDir>,
    root: PathBuf,
}

impl FakeHome {
    fn new() -> FakeHome {
        let dir = tempfile::Builder::new()
            .prefix("cpt-confine-")
            .tempdir_in("/tmp")
            .expect("temp home");
        let mut home = FakeHome::inside(dir.path());
        home._dir = Some(dir);
        std::fs::write(home.root.join("config.toml"), "").expect("config");
        home
    }

    /// The two plugins set up inside an existing home (e.g. a running core's).
    fn inside(dir: &Path) -> FakeHome {
        let root = std::fs::canonicalize(dir).expect("real path");
        let home = Home::at(root.clone());
        for plugin in ["alpha", "beta"] {
            credentials::set(
                &home,
                plugin,
                "token",
                format!("{plugin}-secret").as_bytes(),
            )
            .expect("set credential");
            let folder = root.join("plugins").join(plugin);
            std::fs::create_dir_all(&folder).expect("plugin folder");
            std::fs::copy(fixture_probe(), folder.join(PROBE)).expect("copy probe");
            std::fs::create_dir_all(root.join("data").join(plugin)).expect("data dir");
        }
        FakeHome { _dir: None, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The spec the core would build for `alpha` (as the core's uid).
    fn alpha_spec(&self, network: bool) -> ConfineSpec {
        self.alpha_spec_as(network, &self.path("credentials/alpha"), None)
    }

    /// The spec the core builds for `alpha` with credentials in `creds`, run as `run_as`.
    fn alpha_spec_as(&self, network: bool, creds: &Path, run_as: Option<RunAs>) -> ConfineSpec {
        let folder = self.path("plugins/alpha");
        let command = vec![folder.join(PROBE).display().to_string()];
        confine::spec_for(&SpecRequest {
            plugin_folder: &folder,
            data_dir: &self.path("data/alpha"),
            credentials_dir: Some(creds),
            network,
            command: &command,
            path: std::ffi::OsStr::new(HANDLER_PATH),
            carapace_home: &self.root,
            run_as,
        })
    }

    /// The ids the core gives `plugin` when it runs as root (`None` otherwise).
    fn ids(&self, plugin: &str) -> Option<RunAs> {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        let ids = identity::assign(identity::DEFAULT_UID_BASE, ["alpha", "beta"]);
        ids.get(plugin).copied()
    }

    /// What the core does before starting `alpha` (its own uid when root, its data dir and a
    /// private credentials copy given to it), and the spec it then builds.
    fn alpha_prepared(&self, network: bool) -> (ConfineSpec, PathBuf) {
        let store = Home::at(self.root.clone());
        let declared = vec!["token".to_owned()];
        let run_as = self.ids("alpha");
        let creds = match run_as {
            Some(ids) => {
                identity::own_data_dir(&self.path("data/alpha"), ids).expect("data dir given");
                credentials::hand_over_from(&store, "alpha", &declared, (ids.uid, ids.gid), None)
                    .expect("hand over")
                    .expect("a directory")
            }
            None => self.path("credentials/alpha"),
        };
        (self.alpha_spec_as(network, &creds, run_as), creds)
    }
}

fn fixture_probe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/confine/probe.py")
}

/// Runs `program ops...` through `carapace __confine` the way the core does: cleared
/// environment, cwd = the data dir.
fn run_confined(spec: &ConfineSpec, program: &Path, ops: &[(&str, String)], cwd: &Path) -> Output {
    let mut command = vec![program.display().to_string()];
    for (op, arg) in ops {
        command.push((*op).to_owned());
        command.push(arg.clone());
    }
    let argv = confine::launcher_command(&common::carapace_bin(), spec, &command);
    Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", HANDLER_PATH)
        .env("HOME", cwd)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run the launcher")
}

fn probe_as_alpha(
    home: &FakeHome,
    spec: &ConfineSpec,
    ops: &[(&str, String)],
) -> BTreeMap<String, String> {
    let output = run_confined(
        spec,
        &home.path("plugins/alpha").join(PROBE),
        ops,
        &home.path("data/alpha"),
    );
    verdicts(&output)
}

fn expect(verdicts: &BTreeMap<String, String>, op: &str, arg: &str, want: &str) {
    let key = format!("{op} {arg}");
    assert_eq!(
        verdicts.get(&key).map(String::as_str),
        Some(want),
        "{key}: {verdicts:#?}"
    );
}

/// Refused by Landlock, by the hiding of `/tmp`, or by a read-only bind.
fn expect_refused(verdicts: &BTreeMap<String, String>, op: &str, arg: &str) {
    let key = format!("{op} {arg}");
    let got = verdicts.get(&key).map(String::as_str);
    assert!(
        matches!(got, Some("EACCES" | "ENOENT" | "EROFS")),
        "{key}: {verdicts:#?}"
    );
}

#[test]
fn a_handler_reads_only_its_own_credentials_and_writes_only_its_data_dir() {
    if !landlock_available() {
        return;
    }
    let home = FakeHome::new();
    let p = |rel: &str| home.path(rel).display().to_string();
    let ops = [
        ("read", p("credentials/alpha/token")),
        ("read", p("credentials/beta/token")),
        ("read", p("config.toml")),
        ("read", p("plugins/beta/probe.py")),
        ("write", p("data/alpha/out")),
        ("write", p("data/beta/out")),
        ("write", p("plugins/alpha/out")),
        ("write", p("credentials/alpha/token")),
        ("write", "/tmp/carapace-confine-escape".to_owned()),
        ("list", p("")),
        ("list", p("credentials")),
        ("list", p("data/alpha")),
        ("tmpdir", "scratch".to_owned()),
        ("read", "/etc/hostname".to_owned()),
        ("read", "/proc/self/status".to_owned()),
        ("write", "/dev/null".to_owned()),
    ];
    let got = probe_as_alpha(&home, &home.alpha_spec(false), &ops);
    // This home lies in `/tmp`, which a handler sees only its grants of: what Landlock
    // refuses (EACCES) is often not there at all (ENOENT) or on a read-only mount (EROFS).
    expect(&got, "read", &p("credentials/alpha/token"), "ok");
    expect_refused(&got, "read", &p("credentials/beta/token"));
    expect_refused(&got, "read", &p("config.toml"));
    expect_refused(&got, "read", &p("plugins/beta/probe.py"));
    expect(&got, "write", &p("data/alpha/out"), "ok");
    expect_refused(&got, "write", &p("data/beta/out"));
    expect_refused(&got, "write", &p("plugins/alpha/out"));
    expect_refused(&got, "write", &p("credentials/alpha/token"));
    expect_refused(&got, "write", "/tmp/carapace-confine-escape");
    expect(&got, "list", &p(""), "EACCES");
    expect(&got, "list", &p("credentials"), "EACCES");
    expect(&got, "list", &p("data/alpha"), "ok");
    expect(&got, "tmpdir", "scratch", "ok");
    expect(&got, "read", "/etc/hostname", "EACCES");
    expect(&got, "read", "/proc/self/status", "EACCES");
    expect(&got, "write", "/dev/null", "ok");
    assert!(home.path("data/alpha/tmp/scratch").is_file());
    assert!(!Path::new("/tmp/carapace-confine-escape").exists());
}

#[test]
fn without_network_tcp_connect_and_bind_are_refused() {
    if !landlock_available() {
        return;
    }
    let home = FakeHome::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port().to_string();
    let ops = [("connect", port.clone()), ("bind", "0".to_owned())];
    let closed = probe_as_alpha(&home, &home.alpha_spec(false), &ops);
    expect(&closed, "connect", &port, "EACCES");
    expect(&closed, "bind", "0", "EACCES");
    let open = probe_as_alpha(&home, &home.alpha_spec(true), &ops);
    expect(&open, "connect", &port, "ok");
    expect(&open, "bind", "0", "ok");
}

#[test]
fn the_cores_environment_and_memory_are_unreadable() {
    if !landlock_available() {
        return;
    }
    let home = FakeHome::new();
    let mut core = common::TestCore::start(common::BASIC_CONFIG);
    let pid = core.pid();
    let environ = format!("/proc/{pid}/environ");
    let mem = format!("/proc/{pid}/mem");
    let ops = [
        ("read", environ.clone()),
        ("read", mem.clone()),
        ("read", "/proc/self/status".to_owned()),
    ];
    // As the core builds it: /proc is not granted at all.
    let got = probe_as_alpha(&home, &home.alpha_spec(false), &ops);
    expect(&got, "read", &environ, "EACCES");
    expect(&got, "read", &mem, "EACCES");
    // With /proc granted, ptrace-attach-level access (mem) is still refused by Landlock.
    // Read-level access (environ) is then refused for a non-root core by its non-dumpable
    // flag; root's CAP_SYS_PTRACE overrides that, which is why the spec never grants /proc.
    let mut with_proc = home.alpha_spec(false);
    with_proc.read_only.push("/proc".into());
    let got = probe_as_alpha(&home, &with_proc, &ops);
    expect(&got, "read", "/proc/self/status", "ok");
    expect(&got, "read", &mem, "EACCES");
    if nix::unistd::geteuid().is_root() {
        eprintln!(
            "NOTE: as root with /proc granted, {environ} reads {:?}; spec_for never grants /proc",
            got.get(&format!("read {environ}"))
        );
    } else {
        expect(&got, "read", &environ, "EACCES");
    }
    assert!(home
        .alpha_spec(false)
        .read_only
        .iter()
        .chain(&home.alpha_spec(false).read_exec)
        .all(|p| !Path::new("/proc").starts_with(p)));
    core.stop();
}

/// The deployment case (a core running as an ordinary user): a non-dumpable process's
/// environment is unreadable to a confined same-uid child even if /proc were granted.
#[test]
fn a_non_dumpable_process_is_unreadable_to_a_confined_same_uid_child() {
    if !landlock_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let probe = dir.path().join(PROBE);
    std::fs::copy(fixture_probe(), &probe).expect("copy probe");
    for path in [dir.path(), probe.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // As root, run both sides as `nobody` so that CAP_SYS_PTRACE does not apply.
    let as_user = |program: &str| -> Command {
        if nix::unistd::geteuid().is_root() && Path::new("/usr/bin/setpriv").exists() {
            let mut c = Command::new("/usr/bin/setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", program]);
            c
        } else {
            Command::new(program)
        }
    };
    let mut holder = as_user("/usr/bin/python3")
        .arg(&probe)
        .args(["hold-nondumpable", "30"])
        .env("HOLDER_SECRET", "must-not-leak")
        .stdout(Stdio::piped())
        .spawn()
        .expect("holder");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("ready JSON");
    let environ = format!("/proc/{}/environ", ready["arg"].as_str().expect("pid"));
    let spec = ConfineSpec {
        read_only: vec!["/proc".into(), dir.path().to_path_buf()],
        read_exec: vec!["/usr".into(), "/lib".into(), "/lib64".into(), "/bin".into()],
        devices: vec!["/dev/null".into()],
        ..ConfineSpec::default()
    };
    let carapace = common::carapace_bin().display().to_string();
    let output = as_user(&carapace)
        .args(["__confine", &spec.to_arg(), "--", "/usr/bin/python3"])
        .arg(&probe)
        .args(["read", &environ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .output()
        .expect("confined reader");
    let _ = holder.kill();
    let _ = holder.wait();
    expect(&verdicts(&output), "read", &environ, "EACCES");
}

#[test]
fn signals_to_processes_outside_the_sandbox_are_refused() {
    let support = confine::probe();
    if support.abi.unwrap_or(0) < 6 {
        eprintln!("SKIPPED: signal scoping needs landlock ABI 6 ({support})");
        return;
    }
    let home = FakeHome::new();
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    let pid = sleeper.id().to_string();
    let got = probe_as_alpha(&home, &home.alpha_spec(false), &[("kill", pid.clone())]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    expect(&got, "kill", &pid, "EPERM");
}

#[test]
fn pathname_unix_sockets_are_refused_where_the_kernel_can() {
    let support = confine::probe();
    if !support.is_confined() {
        eprintln!("SKIPPED: landlock unavailable ({support})");
        return;
    }
    let home = FakeHome::new();
    let socket = home.path("run.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("unix listener");
    let arg = socket.display().to_string();
    let got = probe_as_alpha(&home, &home.alpha_spec(false), &[("unix", arg.clone())]);
    if support.abi.unwrap_or(0) >= 9 {
        expect(&got, "unix", &arg, "EACCES");
    } else {
        eprintln!(
            "KNOWN GAP on {support}: a confined handler can connect to a same-uid unix socket \
             outside $CARAPACE_HOME/run (those in run/ are hidden); result {:?}",
            got.get(&format!("unix {arg}"))
        );
        assert!(support.gaps().iter().any(|g| g.contains("unix sockets")));
    }
}

/// Runs the probe unconfined (as the same user), for the control half of a hiding test.
fn probe_unconfined(ops: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut command = Command::new("/usr/bin/python3");
    command.arg(fixture_probe());
    for (op, arg) in ops {
        command.arg(op).arg(arg);
    }
    verdicts(&command.output().expect("unconfined probe"))
}

#[test]
fn a_confined_handler_cannot_reach_the_cores_sockets() {
    if !landlock_available() {
        return;
    }
    let mut core = common::TestCore::start(common::BASIC_CONFIG);
    let session = core.open_session("main");
    let home = FakeHome::inside(core.home.path());
    let root = Home::at(home.root.clone());
    let control = root.control_socket().display().to_string();
    let events = root.events_socket().display().to_string();
    let session_socket = std::fs::canonicalize(&session.socket)
        .expect("session socket")
        .display()
        .to_string();
    // The same socket through the core's own root: the ptrace rule of Landlock must refuse it.
    let via_proc = format!("/proc/{}/root{control}", core.pid());
    let ops = [
        ("unix", control.clone()),
        ("unix", events.clone()),
        ("unix", session_socket.clone()),
        ("unix", via_proc.clone()),
    ];
    // Unconfined, the same connects succeed: the paths are right.
    let open = probe_unconfined(&ops[..3]);
    for path in [&control, &events, &session_socket] {
        expect(&open, "unix", path, "ok");
    }
    let got = probe_as_alpha(&home, &home.alpha_spec(false), &ops);
    for path in [&control, &events, &session_socket] {
        expect(&got, "unix", path, "ENOENT");
    }
    let through_proc = got.get(&format!("unix {via_proc}")).cloned();
    assert!(
        matches!(through_proc.as_deref(), Some("EACCES" | "EPERM" | "ENOENT")),
        "{via_proc}: {through_proc:?}"
    );
    // The core is untouched: the hiding lives only in the handler's namespace.
    assert!(core.cli(&["status", "--json"]).status.success());
    core.stop();
}

#[test]
fn under_systemd_the_credentials_copy_in_run_stays_readable_by_its_handler() {
    if !landlock_available() {
        return;
    }
    let home = FakeHome::new();
    let store = Home::at(home.root.clone());
    let systemd = tempfile::tempdir().expect("credentials directory");
    for (file, value) in [("alpha.token", "alpha-sd"), ("beta.token", "beta-sd")] {
        std::fs::write(systemd.path().join(file), value).expect("credential");
    }
    let declared = vec!["token".to_owned()];
    let mut dirs = Vec::new();
    for plugin in ["alpha", "beta"] {
        let dir =
            credentials::credentials_dir_from(&store, plugin, &declared, Some(systemd.path()))
                .expect("materialize")
                .expect("a directory");
        dirs.push(dir);
    }
    assert_eq!(dirs[0], store.run_dir().join("credentials/alpha"));
    let socket = store.control_socket();
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("listener");
    let folder = home.path("plugins/alpha");
    let data = home.path("data/alpha");
    let command = vec![folder.join(PROBE).display().to_string()];
    let spec = confine::spec_for(&SpecRequest {
        plugin_folder: &folder,
        data_dir: &data,
        credentials_dir: Some(&dirs[0]),
        network: false,
        command: &command,
        path: std::ffi::OsStr::new(HANDLER_PATH),
        carapace_home: &home.root,
        run_as: None,
    });
    assert_eq!(spec.hide[0], store.run_dir());
    assert_eq!(spec.rebind, vec![dirs[0].clone()]);
    let own = dirs[0].join("token").display().to_string();
    let other = dirs[1].join("token").display().to_string();
    let control = socket.display().to_string();
    let ops = [
        ("read", own.clone()),
        ("list", dirs[0].display().to_string()),
        ("read", other.clone()),
        ("unix", control.clone()),
        ("write", own.clone()),
    ];
    let got = probe_as_alpha(&home, &spec, &ops);
    expect(&got, "read", &own, "ok");
    expect(&got, "list", &dirs[0].display().to_string(), "ok");
    expect(&got, "read", &other, "ENOENT");
    expect(&got, "unix", &control, "ENOENT");
    // Read-only twice over: the bind mount and Landlock.
    let written = got.get(&format!("write {own}")).cloned();
    assert!(
        matches!(written.as_deref(), Some("EROFS" | "EACCES")),
        "{written:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("token")).expect("intact"),
        "alpha-sd"
    );
    // The core's view is untouched.
    assert!(socket.exists());
    assert!(dirs[1].join("token").exists());
}

/// The unprivileged path (a user namespace around the mount namespace), run as `nobody`.
#[test]
fn an_unprivileged_launcher_hides_through_a_user_namespace() {
    if !landlock_available() {
        return;
    }
    let root = nix::unistd::geteuid().is_root();
    if root && !Path::new("/usr/bin/setpriv").exists() {
        panic!("this test needs /usr/bin/setpriv when run as root");
    }
    let dir = tempfile::Builder::new()
        .prefix("cpt-userns-")
        .tempdir_in("/tmp")
        .expect("dir");
    let base = std::fs::canonicalize(dir.path()).expect("real");
    let run = base.join("run");
    let creds = run.join("credentials/alpha");
    std::fs::create_dir_all(&creds).expect("creds");
    std::fs::write(creds.join("token"), "alpha-token").expect("token");
    std::fs::copy(fixture_probe(), base.join(PROBE)).expect("probe");
    let socket = run.join("control.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("listener");
    if root {
        for entry in [
            &base,
            &run,
            &run.join("credentials"),
            &creds,
            &creds.join("token"),
            &socket,
        ] {
            nix::unistd::chown(
                entry.as_path(),
                Some(nix::unistd::Uid::from_raw(65534)),
                Some(nix::unistd::Gid::from_raw(65534)),
            )
            .expect("chown");
        }
        std::fs::set_permissions(base.join(PROBE), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let spec = ConfineSpec {
        read_only: vec![creds.clone(), "/etc".into()],
        read_exec: system_and(base.join(PROBE)),
        devices: vec!["/dev/null".into()],
        hide: vec![run.clone()],
        rebind: vec![creds.clone()],
        ..ConfineSpec::default()
    };
    let token = creds.join("token").display().to_string();
    let control = socket.display().to_string();
    let mut command = if root {
        let mut c = Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(common::carapace_bin());
        c
    } else {
        Command::new(common::carapace_bin())
    };
    let output = command
        .args(["__confine", &spec.to_arg(), "--", "/usr/bin/python3"])
        .arg(base.join(PROBE))
        .args(["unix", &control, "read", &token])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .output()
        .expect("launcher");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let got = verdicts(&output);
    let userns_disabled = [
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
    ]
    .iter()
    .any(|f| std::fs::read_to_string(f).is_ok_and(|v| v.trim() == "0"));
    if userns_disabled {
        // Degrades loudly: the launcher says so and the handler still starts.
        eprintln!("NOTE: unprivileged user namespaces are disabled here");
        assert!(
            stderr.contains("CARAPACE-CONFINE: sockets VISIBLE: "),
            "{stderr}"
        );
        expect(&got, "read", &token, "ok");
    } else {
        assert!(!stderr.contains("VISIBLE"), "{stderr}");
        expect(&got, "unix", &control, "ENOENT");
        expect(&got, "read", &token, "ok");
    }
}

#[test]
fn the_launcher_probe_says_whether_sockets_are_hidden() {
    if !landlock_available() {
        return;
    }
    let isolation = confine::Isolation::probe(&common::carapace_bin());
    assert_eq!(
        isolation.sockets,
        confine::SocketHiding::Hidden,
        "{isolation}: {:?}",
        isolation.gaps()
    );
    assert!(
        isolation.to_string().starts_with(&format!(
            "{}, sockets hidden, seccomp, no capabilities",
            confine::probe()
        )),
        "{isolation}"
    );
    // A launcher that cannot run is reported, never taken for success.
    let broken = confine::probe_namespaces(Path::new("/nonexistent/carapace"));
    assert!(!broken.is_hidden());
    assert!(broken.gap().is_some());
}

#[test]
fn the_control_socket_refuses_a_peer_with_no_new_privs() {
    if !Path::new("/usr/bin/setpriv").exists() {
        panic!("this test needs /usr/bin/setpriv");
    }
    let mut core = common::TestCore::start(common::BASIC_CONFIG);
    let home = core.home.path().to_path_buf();
    let plain = Command::new(common::carapace_bin())
        .arg("--home")
        .arg(&home)
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let nnp = Command::new("/usr/bin/setpriv")
        .arg("--no-new-privs")
        .arg(common::carapace_bin())
        .arg("--home")
        .arg(&home)
        .args(["status", "--json"])
        .output()
        .expect("setpriv status");
    assert!(
        !nnp.status.success(),
        "a no_new_privs peer was served: {}",
        String::from_utf8_lossy(&nnp.stdout)
    );
    assert!(nnp.stdout.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !core.log().contains("refused a peer with no_new_privs set") {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged: {}",
            core.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    core.stop();
}

#[test]
fn the_launcher_reports_partial_enforcement_and_fails_with_127() {
    if !landlock_available() {
        return;
    }
    let home = FakeHome::new();
    let out = run_confined(
        &home.alpha_spec(false),
        &home.path("plugins/alpha/probe.py"),
        &[],
        &home.path("data/alpha"),
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let support = confine::probe();
    assert!(!stderr.contains("VISIBLE"), "{stderr}");
    if support.gaps().is_empty() {
        assert!(!stderr.contains("CARAPACE-CONFINE"), "{stderr}");
    } else {
        assert!(
            stderr.contains(&format!(
                "CARAPACE-CONFINE: partially-enforced ({support}, sockets hidden)"
            )),
            "{stderr}"
        );
    }
    let missing = run_confined(
        &home.alpha_spec(false),
        &home.path("plugins/alpha/nope"),
        &[],
        &home.path("data/alpha"),
    );
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot execute"));
    let bad = Command::new(common::carapace_bin())
        .args(["__confine", "{not json", "--", "/bin/true"])
        .output()
        .expect("launcher");
    assert_eq!(bad.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid confinement spec"));
}

#[test]
fn a_loose_or_foreign_store_is_refused_with_the_exact_fix() {
    let home = FakeHome::new();
    let store = Home::at(home.root.clone());
    credentials::check_store(&store).expect("a fresh store is tight");
    let file = home.path("credentials/alpha/token");
    let dir = home.path("credentials/beta");
    let chmod = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };

    chmod(&file, 0o644);
    let error = credentials::check_store(&store).expect_err("0644 refused");
    assert!(matches!(error, CredentialError::LooseMode { .. }));
    assert!(
        error
            .to_string()
            .contains(&format!("run `chmod 600 {}`", file.display())),
        "{error}"
    );
    chmod(&file, 0o600);

    chmod(&dir, 0o755);
    let error = credentials::check_store(&store).expect_err("0755 refused");
    assert!(
        error
            .to_string()
            .contains(&format!("run `chmod 700 {}`", dir.display())),
        "{error}"
    );
    chmod(&dir, 0o700);

    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        nix::unistd::chown(&file, Some(nix::unistd::Uid::from_raw(12345)), None).expect("chown");
        let error = credentials::check_store(&store).expect_err("foreign owner refused");
        assert!(
            error
                .to_string()
                .contains(&format!("run `chown 0 {}`", file.display())),
            "{error}"
        );
        nix::unistd::chown(&file, Some(uid), None).expect("chown back");
    } else {
        eprintln!("SKIPPED (foreign owner): needs root to chown");
    }

    let link = home.path("credentials/alpha/link");
    std::os::unix::fs::symlink("/etc/hostname", &link).expect("symlink");
    let error = credentials::check_store(&store).expect_err("symlink refused");
    assert!(matches!(error, CredentialError::NotPlain { .. }), "{error}");
    std::fs::remove_file(&link).expect("rm link");
    credentials::check_store(&store).expect("tight again");
}

fn cli(home: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(common::carapace_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carapace");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.unwrap_or_default()).expect("stdin");
    }
    child.wait_with_output().expect("carapace output")
}

#[test]
fn auth_set_reads_stdin_and_status_never_shows_the_value() {
    let dir = tempfile::tempdir().expect("home");
    let home = dir.path();
    let secret = "correct horse battery staple";
    let set = cli(
        home,
        &["auth", "set", "--plugin", "mail", "token"],
        Some(format!("{secret}\n").as_bytes()),
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let stored = home.join("credentials/mail/token");
    assert_eq!(std::fs::read(&stored).expect("stored"), secret.as_bytes());
    assert_eq!(
        std::fs::metadata(&stored)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let dir_mode = std::fs::metadata(home.join("credentials/mail"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);

    let status = cli(home, &["auth", "status", "--json"], None);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    for output in [&set.stdout, &set.stderr, &status.stdout, &status.stderr] {
        assert!(
            !String::from_utf8_lossy(output).contains("horse"),
            "value leaked"
        );
    }
    let listed: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    // Bundled plugins list the credentials they declare too: find ours.
    let entry = listed["credentials"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["plugin"] == "mail"))
        .unwrap_or_else(|| panic!("no mail credential listed: {listed}"));
    assert_eq!(entry["plugin"], "mail");
    assert_eq!(entry["name"], "token");
    assert_eq!(entry["present"], true);
    assert_eq!(entry["mode"], "0600");
    assert!(listed["problem"].is_null());

    std::fs::set_permissions(&stored, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let loose = cli(home, &["auth", "status"], None);
    assert!(!loose.status.success());
    assert!(
        String::from_utf8_lossy(&loose.stdout).contains(&format!("chmod 600 {}", stored.display()))
    );

    let bad = cli(
        home,
        &["auth", "set", "--plugin", "mail", "../x"],
        Some(b"v"),
    );
    assert!(!bad.status.success());
    let empty = cli(
        home,
        &["auth", "set", "--plugin", "mail", "other"],
        Some(b"\n"),
    );
    assert!(!empty.status.success());

    let rm = cli(home, &["auth", "rm", "--plugin", "mail", "token"], None);
    assert!(rm.status.success());
    assert!(!stored.exists());
}

#[test]
fn under_systemd_a_plugin_gets_a_private_copy_of_only_its_own_credentials() {
    let home_dir = tempfile::tempdir().expect("home");
    let home = Home::at(home_dir.path().to_path_buf());
    let systemd = tempfile::tempdir().expect("credentials directory");
    for (file, value) in [
        ("mail.token", "m1"),
        ("mail.undeclared", "m2"),
        ("chat.token", "c1"),
    ] {
        std::fs::write(systemd.path().join(file), value).expect("credential");
    }
    let declared = vec!["token".to_owned(), "absent".to_owned()];
    let dir = credentials::credentials_dir_from(&home, "mail", &declared, Some(systemd.path()))
        .expect("materialize")
        .expect("a directory");
    assert_eq!(dir, home.run_dir().join("credentials/mail"));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["token".to_owned()]);
    assert_eq!(
        std::fs::read_to_string(dir.join("token")).expect("copy"),
        "m1"
    );
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("token")), 0o600);
    assert_eq!(
        credentials::missing_from(&home, "mail", &declared, Some(systemd.path())),
        vec!["absent".to_owned()]
    );
    assert_eq!(
        credentials::credentials_dir_from(&home, "mail", &[], Some(systemd.path())).expect("none"),
        None
    );
    credentials::remove_materialized(&home, "mail").expect("remove");
    assert!(!dir.exists());
    // Without systemd the store directory itself is given.
    credentials::set(&home, "mail", "token", b"v").expect("set");
    assert_eq!(
        credentials::credentials_dir_from(&home, "mail", &declared, None).expect("dir"),
        Some(home.root().join("credentials/mail"))
    );
}

/// A loopback UDP socket that reports whether a datagram reached it.
fn udp_listener() -> (std::net::UdpSocket, String) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp listener");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .expect("timeout");
    let port = socket.local_addr().expect("addr").port().to_string();
    (socket, port)
}

fn received(socket: &std::net::UdpSocket) -> bool {
    let mut buf = [0u8; 16];
    socket.recv_from(&mut buf).is_ok()
}

/// `unshare(CLONE_NEWUSER)`: a new user namespace would hand the handler every capability.
const NEWUSER: &str = "0x10000000";

#[test]
fn without_network_no_udp_raw_packet_or_netlink_socket_opens() {
    let Some(home) = confined_home() else {
        return;
    };
    let (udp, port) = udp_listener();
    let ops = [
        ("udp", port.clone()),
        ("raw", String::new()),
        ("packet", String::new()),
        ("netlink", String::new()),
        ("unixpair", String::new()),
        ("unshare", NEWUSER.to_owned()),
    ];
    let (spec, _) = home.alpha_prepared(false);
    let got = probe_as_alpha(&home, &spec, &ops);
    expect(&got, "udp", &port, "EACCES");
    expect(&got, "raw", "", "EACCES");
    expect(&got, "packet", "", "EACCES");
    expect(&got, "netlink", "", "EACCES");
    expect(&got, "unshare", NEWUSER, "EPERM");
    // What a handler needs still works: unix sockets, and stdio (the verdicts came back on it).
    expect(&got, "unixpair", "", "ok");
    assert!(!received(&udp), "a datagram left a network: false handler");
}

#[test]
fn with_network_tcp_and_udp_open_but_raw_and_packet_sockets_do_not() {
    let Some(home) = confined_home() else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let tcp = listener.local_addr().expect("addr").port().to_string();
    let (udp, port) = udp_listener();
    let ops = [
        ("connect", tcp.clone()),
        ("udp", port.clone()),
        ("raw", String::new()),
        ("packet", String::new()),
        ("netlink", String::new()),
    ];
    let (spec, _) = home.alpha_prepared(true);
    let got = probe_as_alpha(&home, &spec, &ops);
    expect(&got, "connect", &tcp, "ok");
    expect(&got, "udp", &port, "ok");
    assert!(
        received(&udp),
        "the datagram of a network: true handler was lost"
    );
    expect(&got, "raw", "", "EACCES");
    expect(&got, "packet", "", "EACCES");
    expect(&got, "netlink", "", "EACCES");
}

#[test]
fn a_handler_holds_no_capabilities_and_runs_as_its_own_uid() {
    let Some(home) = confined_home() else {
        return;
    };
    let (spec, _) = home.alpha_prepared(false);
    let ops = [
        ("caps", String::new()),
        ("ids", String::new()),
        ("setuid", "0".to_owned()),
    ];
    let got = probe_as_alpha(&home, &spec, &ops);
    expect(&got, "caps", "", "bnd=0 prm=0 eff=0 inh=0 amb=0");
    match home.ids("alpha") {
        Some(ids) => {
            assert_ne!(ids.uid, 0);
            expect(
                &got,
                "ids",
                "",
                &format!("uid={0} gid={0} groups=0", ids.uid),
            );
            expect(&got, "setuid", "0", "EPERM");
            // Its data dir is its own, and the core's copy of its credentials too.
            let tmp = std::fs::metadata(home.path("data/alpha/tmp")).expect("tmp made");
            assert_eq!(std::os::unix::fs::MetadataExt::uid(&tmp), ids.uid);
        }
        None => eprintln!("NOTE: not root: the handler keeps the core's uid"),
    }
}

#[test]
fn a_handler_reads_its_own_credentials_copy_and_nothing_of_another_uid() {
    let Some(home) = confined_home() else {
        return;
    };
    let store = Home::at(home.root.clone());
    let model_key = format!("sk-ant-{}", common::random_hex(16));
    credentials::set(&store, "model", "anthropic_api_key", model_key.as_bytes()).expect("model");
    std::fs::create_dir_all(home.path("keys")).expect("keys");
    std::fs::write(home.path("keys/audit.key"), common::random_hex(32)).expect("audit key");
    let (mut spec, creds) = home.alpha_prepared(false);
    let Some(ids) = home.ids("alpha") else {
        eprintln!("SKIPPED: the handler's own uid applies when the core is root");
        return;
    };
    use std::os::unix::fs::MetadataExt;
    let meta = |p: &Path| std::fs::symlink_metadata(p).expect("meta");
    assert_eq!(creds, store.run_dir().join("credentials/alpha"));
    assert_eq!(
        (meta(&creds).uid(), meta(&creds).mode() & 0o777),
        (ids.uid, 0o700)
    );
    let token = creds.join("token");
    assert_eq!(
        (meta(&token).uid(), meta(&token).mode() & 0o777),
        (ids.uid, 0o600)
    );
    // A mistaken grant of another plugin's store is still refused: it is not this uid's.
    let beta = home.path("credentials/beta");
    spec.read_only.push(beta.clone());
    spec.rebind.push(beta.clone());
    let p = |path: &Path| path.display().to_string();
    let ops = [
        ("read", p(&token)),
        ("read", p(&beta.join("token"))),
        ("read", p(&home.path("credentials/model/anthropic_api_key"))),
        ("read", p(&home.path("keys/audit.key"))),
        ("read", p(&home.path("credentials/alpha/token"))),
    ];
    let got = probe_as_alpha(&home, &spec, &ops);
    expect(&got, "read", &p(&token), "ok");
    expect(&got, "read", &p(&beta.join("token")), "EACCES");
    for (_, path) in &ops[2..] {
        let result = got.get(&format!("read {path}")).map(String::as_str);
        assert!(
            matches!(result, Some("EACCES" | "ENOENT")),
            "{path}: {result:?}"
        );
    }
}

/// A plugin folder holding the probe as a handler (`--serve`), with tool `<name>_run`.
fn probe_plugin(dir: &Path, name: &str, network: bool) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::copy(fixture_probe(), folder.join(PROBE)).expect("probe");
    let manifest = serde_json::json!({
        "description": "Confinement probe as a plugin.",
        "version": "0.1.0",
        "handler": [PROBE, "--serve"],
        "network": network,
        "credentials": ["token"],
        "provides": {"tools": [{
            "name": format!("{name}_run"),
            "description": "Run probe operations.",
            "risk_level": "low",
            "arguments_schema": {"type": "object", "additionalProperties": false,
                "required": ["ops"],
                "properties": {"ops": {"type": "array", "items": {"type": "array",
                    "items": {"type": "string"}}}}}
        }]}
    });
    std::fs::write(folder.join("manifest.json"), manifest.to_string()).expect("manifest");
}

/// Each probe verdict of a `<plugin>_run` answer, keyed `op arg`.
fn plugin_verdicts(answer: &serde_json::Value) -> BTreeMap<String, String> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(verdict)
        .collect()
}

/// The capability masks and uid of a running process, read from outside.
fn proc_status(pid: u64) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn a_real_core_runs_its_plugins_without_privileges_and_says_exactly_what_holds() {
    if !landlock_available() {
        return;
    }
    let (core, _plugins) = core_with_probers(&[("prober", false), ("netprober", true)]);
    let session = core.open_session("main");
    let run = |tool: &str, ops: &[[&str; 2]]| -> serde_json::Value {
        let args = serde_json::json!({ "ops": ops }).to_string();
        session.ipc(&[tool, &args]).result()
    };
    let (udp, port) = udp_listener();
    let closed = run(
        "prober_run",
        &[
            ["udp", &port],
            ["raw", ""],
            ["packet", ""],
            ["netlink", ""],
            ["unixpair", ""],
            ["ids", ""],
        ],
    );
    let open = run(
        "netprober_run",
        &[["udp", &port], ["raw", ""], ["packet", ""]],
    );
    let got = plugin_verdicts(&closed);
    for op in ["udp", "raw", "packet", "netlink"] {
        let key = if op == "udp" {
            format!("udp {port}")
        } else {
            format!("{op} ")
        };
        assert_eq!(
            got.get(&key).map(String::as_str),
            Some("EACCES"),
            "{key}: {got:?}"
        );
    }
    assert_eq!(got["unixpair "], "ok");
    let net = plugin_verdicts(&open);
    assert_eq!(net[&format!("udp {port}")], "ok", "{net:?}");
    assert_eq!(net["raw "], "EACCES");
    assert_eq!(net["packet "], "EACCES");
    assert!(received(&udp), "the network: true plugin's datagram");
    assert!(!received(&udp), "a datagram from the network: false plugin");
    // Its own credentials, and not the other plugin's.
    let own = format!(
        "{}/token",
        closed["credentials_dir"].as_str().expect("creds dir")
    );
    let other = format!(
        "{}/token",
        open["credentials_dir"].as_str().expect("creds dir")
    );
    let reads = plugin_verdicts(&run("prober_run", &[["read", &own], ["read", &other]]));
    assert_eq!(reads[&format!("read {own}")], "ok", "{reads:?}");
    assert_ne!(reads[&format!("read {other}")], "ok", "{reads:?}");
    // The kernel's own view of the handler.
    let pid = closed["pid"].as_u64().expect("pid");
    let status = proc_status(pid);
    for set in ["CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{set}: {status:?}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
    assert_eq!(status["Seccomp"], "2");
    let uid: u32 = status["Uid"]
        .split_whitespace()
        .next()
        .and_then(|u| u.parse().ok())
        .expect("uid");
    if nix::unistd::geteuid().is_root() {
        assert!(uid >= identity::DEFAULT_UID_BASE, "uid {uid}");
        assert_eq!(got["ids "], format!("uid={uid} gid={uid} groups=0"));
    }
    // `status` and `get_session_info` say exactly this.
    let info = session.ipc(&["get_session_info"]).result();
    let status = core.cli_json(&["status", "--json"]);
    for plugins in [&status["plugins"], &info["plugins"]] {
        let by_name = |name: &str| {
            plugins
                .as_array()
                .expect("plugins")
                .iter()
                .find(|p| p["name"] == name)
                .cloned()
                .expect("plugin listed")
        };
        let prober = by_name("prober");
        let report = &prober["enforcement"];
        assert_eq!(report["seccomp_socket_filter"], true, "{prober}");
        assert_eq!(report["capabilities_dropped"], true, "{prober}");
        assert_eq!(report["no_new_privs"], true, "{prober}");
        assert_eq!(report["uid"], uid, "{prober}");
        assert_eq!(report["socket_families"], serde_json::json!(["AF_UNIX"]));
        assert!(report["udp"]
            .as_str()
            .unwrap_or("")
            .starts_with("refused by seccomp"));
        assert_eq!(report["landlock_abi"], confine::probe().abi.expect("abi"));
        let summary = prober["confinement"].as_str().unwrap_or("");
        assert!(
            summary.contains("seccomp: AF_UNIX only, no capabilities, uid"),
            "{summary}"
        );
        let net = by_name("netprober");
        assert!(net["enforcement"]["udp"]
            .as_str()
            .unwrap_or("")
            .starts_with("allowed"));
        assert_eq!(
            net["enforcement"]["socket_families"],
            serde_json::json!(["AF_UNIX", "AF_INET", "AF_INET6"])
        );
    }
}

/// A core with probe plugins (name, network), each with its credential set; their dir.
fn core_with_probers(probers: &[(&str, bool)]) -> (common::TestCore, tempfile::TempDir) {
    let plugins = tempfile::Builder::new()
        .prefix("cpt-probes-")
        .tempdir_in("/tmp")
        .expect("plugins dir");
    for (name, network) in probers {
        probe_plugin(plugins.path(), name, *network);
    }
    let config = format!(
        "{}\n[plugins]\ndirs = [\"{}\"]\n",
        common::BASIC_CONFIG,
        plugins.path().display()
    );
    let core = common::TestCore::start(&config);
    for (name, _) in probers {
        core.auth_set(name, "token", &common::random_hex(16));
    }
    assert!(core.cli(&["reload"]).status.success());
    (core, plugins)
}

#[test]
fn restarts_reloads_and_an_old_root_owned_data_dir_keep_a_plugin_its_own() {
    if !landlock_available() {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: plugins have ids of their own when the core is root");
        return;
    }
    let (mut core, _plugins) = core_with_probers(&[("prober", false)]);
    let data = core.home.path().join("data/prober");
    let creds = core.home.path().join("run/credentials/prober/token");
    let p = |path: &Path| path.display().to_string();
    let probe = |core: &common::TestCore, ops: &[[&str; 2]]| {
        let args = serde_json::json!({ "ops": ops }).to_string();
        plugin_verdicts(
            &core
                .open_session("main")
                .ipc(&["prober_run", &args])
                .result(),
        )
    };
    let first = probe(&core, &[["ids", ""], ["read", &p(&creds)]]);
    let ids = first["ids "].clone();
    assert!(ids.starts_with("uid=2"), "{first:?}");
    assert_eq!(first[&format!("read {}", p(&creds))], "ok");
    // A forced restart of the plugin: same uid, and its fresh credentials copy stays.
    assert!(core.cli(&["reload", "prober"]).status.success());
    let again = probe(&core, &[["ids", ""], ["read", &p(&creds)]]);
    assert_eq!(again["ids "], ids);
    assert_eq!(again[&format!("read {}", p(&creds))], "ok", "{again:?}");
    // A data dir as an older core left it: everything root's, and a link out of it.
    core.stop();
    let old = data.join("old-state");
    std::fs::write(&old, "kept").expect("old state");
    std::os::unix::fs::symlink("/etc/passwd", data.join("escape")).expect("link");
    let root = Some(nix::unistd::Uid::from_raw(0));
    for entry in [&data, &data.join("tmp"), &old, &data.join("escape")] {
        nix::unistd::fchownat(
            None,
            entry.as_path(),
            root,
            Some(nix::unistd::Gid::from_raw(0)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .expect("chown to root");
    }
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    core.launch();
    let after = probe(
        &core,
        &[
            ["ids", ""],
            ["read", &p(&old)],
            ["write", &p(&data.join("new"))],
        ],
    );
    assert_eq!(after["ids "], ids);
    assert_eq!(after[&format!("read {}", p(&old))], "ok", "{after:?}");
    assert_eq!(after[&format!("write {}", p(&data.join("new")))], "ok");
    let owner = |path: &Path| {
        std::os::unix::fs::MetadataExt::uid(&std::fs::symlink_metadata(path).expect("meta"))
    };
    assert_eq!(owner(Path::new("/etc/passwd")), 0, "a link was followed");
    assert_ne!(owner(&old), 0);
}

/// A plugin added by a reload whose name hashes to the id of a running plugin (and sorts
/// before it) must not be given that id: two live handlers never share a uid.
#[test]
fn a_plugin_added_by_a_reload_never_shares_a_running_plugins_uid() {
    if !landlock_available() {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: plugins have ids of their own when the core is root");
        return;
    }
    let running = "zzprober";
    let hashed = |name: &str| identity::assign(0, [name])[name].uid;
    let newcomer = (0u32..)
        .map(|i| format!("a{i}"))
        .find(|name| hashed(name) == hashed(running))
        .expect("a colliding name");
    let (core, plugins) = core_with_probers(&[(running, false)]);
    let ids_of = |core: &common::TestCore, plugin: &str| {
        let args = serde_json::json!({ "ops": [["ids", ""]] }).to_string();
        let answer = core
            .open_session("main")
            .ipc(&[&format!("{plugin}_run"), &args])
            .result();
        plugin_verdicts(&answer)["ids "].clone()
    };
    let before = ids_of(&core, running);
    assert!(before.starts_with("uid=2"), "{before}");
    probe_plugin(plugins.path(), &newcomer, false);
    core.auth_set(&newcomer, "token", &common::random_hex(16));
    assert!(core.cli(&["reload"]).status.success());
    let kept = ids_of(&core, running);
    let added = ids_of(&core, &newcomer);
    assert_eq!(kept, before, "the running plugin keeps its id");
    assert_ne!(added, kept, "{newcomer} shares the uid of {running}");
}

/// Under systemd's `SystemCallFilter=~@privileged` (the NixOS unit) `capset` fails; a
/// non-root launcher must still start its handler, which holds no capability after exec.
#[test]
fn a_non_root_launcher_where_capset_is_filtered_still_starts_without_capabilities() {
    if !landlock_available() {
        return;
    }
    if !nix::unistd::geteuid().is_root() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIPPED: needs root and setpriv to run the launcher as nobody");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("cpt-capset-")
        .tempdir_in("/tmp")
        .expect("dir");
    let base = std::fs::canonicalize(dir.path()).expect("real");
    std::fs::create_dir_all(base.join("run")).expect("run");
    std::fs::copy(fixture_probe(), base.join(PROBE)).expect("probe");
    for path in [&base, &base.join("run"), &base.join(PROBE)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let spec = ConfineSpec {
        read_only: vec!["/etc".into()],
        read_exec: system_and(base.join(PROBE)),
        devices: vec!["/dev/null".into()],
        hide: vec![base.join("run")],
        ..ConfineSpec::default()
    };
    let output = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg("/usr/bin/python3")
        .arg(base.join(PROBE))
        .arg("--deny-capset")
        .arg(common::carapace_bin())
        .args(["__confine", &spec.to_arg(), "--", "/usr/bin/python3"])
        .arg(base.join(PROBE))
        .args(["caps", "", "udp", "9"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .output()
        .expect("launcher");
    let got = verdicts(&output);
    expect(&got, "caps", "", "bnd=0 prm=0 eff=0 inh=0 amb=0");
    expect(&got, "udp", "9", "EACCES");
}
