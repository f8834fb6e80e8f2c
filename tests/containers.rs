//! Real containers: the podman adapter with every hardening flag, a rootfs
//! built from local files (busybox-static, the static `ipc`, scripted agents),
//! and the real core on the other side of the session socket.
//!
//! Rule: without podman these tests print `SKIPPED: podman not installed` and
//! pass, unless `CARAPACE_REQUIRE_PODMAN=1`, when a missing podman fails.
//! Nothing here may pass silently without having run a container.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use carapace::runtime::podman::Podman;
use carapace::runtime::{ContainerRuntime, ImageError, ImageRef, ImageSource, RuntimeError};
use common::TestCore;
use tokio::io::{AsyncBufReadExt, BufReader};

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

#[path = "fixtures/scripted_provider.rs"]
mod scripted_provider;

#[path = "fixtures/containers/claude_code.rs"]
mod claude_code;

#[path = "fixtures/containers/claude_memory.rs"]
mod claude_memory;

use harness::*;

#[tokio::test]
async fn a_hardened_container_sees_only_its_mounts_and_has_no_privileges() {
    if !podman_or_skip("hardening") {
        return;
    }
    let rootfs = build_rootfs();
    let core = TestCore::start(CONFIG);
    let (session, dir) = open_shared_session(&core);
    let workspace = tempfile::tempdir_in("/tmp").expect("workspace");
    let spec = spec(
        &session,
        ImageSource::Rootfs(rootfs.path().into()),
        &dir,
        &["/bin/inspect.sh"],
    )
    .with_workspace(workspace.path());
    let podman = Podman::new(&config());
    let (out, _) = run_to_end(&podman, &spec).await;
    assert_eq!(key(&out, "uid"), "100000", "{out}");
    assert_eq!(key(&out, "gid"), "100000");
    assert_eq!(key(&out, "ifaces"), "lo", "only loopback: {out}");
    assert_eq!(key(&out, "routes"), "0", "no route out");
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(key(&out, cap), "0000000000000000", "{cap}: {out}");
    }
    assert_eq!(key(&out, "NoNewPrivs"), "1");
    assert_eq!(key(&out, "root_writable"), "no");
    assert_eq!(key(&out, "tmp_writable"), "yes");
    assert_eq!(
        key(&out, "home_writable"),
        "yes",
        "HOME is the agent's own tmpfs"
    );
    assert_eq!(key(&out, "tmp_exec"), "no", "/tmp is noexec");
    assert_eq!(key(&out, "socket"), "present");
    assert_eq!(key(&out, "nofile"), "1024");
    // mountinfo: id parent major:minor root mountpoint options ... - fstype source
    let mountinfo = out.split("MOUNTINFO\n").nth(1).expect("mountinfo");
    let virtual_fs = [
        "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2",
    ];
    let mut host_mounts = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let fstype = line
            .split(" - ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next());
        if fields.len() < 5 || fstype.is_some_and(|t| virtual_fs.contains(&t)) {
            continue;
        }
        host_mounts.push((fields[4].to_owned(), fields[3].to_owned()));
    }
    let allowed = [
        "/",
        "/run/carapace",
        "/workspace",
        "/etc/hostname",
        "/run/.containerenv",
    ];
    for (target, _) in &host_mounts {
        assert!(
            allowed.contains(&target.as_str()),
            "unexpected host mount {target}: {mountinfo}"
        );
    }
    let source = |t: &str| {
        host_mounts
            .iter()
            .find(|(m, _)| m == t)
            .map(|(_, s)| s.clone())
    };
    assert_eq!(
        source("/run/carapace").as_deref().map(Path::new),
        Some(dir.as_path())
    );
    assert_eq!(
        source("/workspace").as_deref().map(Path::new),
        Some(workspace.path())
    );
}

#[tokio::test]
async fn the_scripted_agent_calls_the_real_core_through_ipc() {
    if !podman_or_skip("round trip") {
        return;
    }
    let rootfs = build_rootfs();
    let core = TestCore::start(CONFIG);
    let podman = Podman::new(&config());
    let image = ImageSource::Rootfs(rootfs.path().into());

    // Not shared (dir 0700, socket 0600, root's, as a session was before the
    // core shared it with the agent gid): the agent cannot connect.
    let closed = core.open_session("main");
    let closed_dir = closed.socket.parent().expect("dir").to_owned();
    for (path, mode) in [(&closed.socket, 0o600), (&closed_dir, 0o700)] {
        use std::os::unix::fs::PermissionsExt;
        std::os::unix::fs::chown(path, Some(0), Some(0)).expect("chown");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let spec_closed = spec(
        &closed.id,
        image.clone(),
        &closed_dir,
        &["/bin/agent.sh", "list_tools"],
    )
    .with_env("CARAPACE_IPC_TIMEOUT", "2");
    let (out, _) = run_to_end(&podman, &spec_closed).await;
    assert_ne!(
        answer(&out, "list_tools").1,
        "0",
        "a 0700 root dir must keep uid 100000 out"
    );

    let (session, dir) = open_shared_session(&core);
    let spec = spec(
        &session,
        image,
        &dir,
        &["/bin/agent.sh", "list_tools", "get_session_info"],
    );
    let (out, _) = run_to_end(&podman, &spec).await;
    let (tools, rc) = answer(&out, "list_tools");
    assert_eq!(rc, "0", "{out}");
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"list_tools") && names.contains(&"get_session_info"),
        "{names:?}"
    );
    let (info, rc) = answer(&out, "get_session_info");
    assert_eq!(rc, "0", "{out}");
    assert_eq!(info["session"], session.as_str());
    assert_eq!(info["group"], "main");
}

#[tokio::test]
async fn image_verification_refuses_a_wrong_digest() {
    if !podman_or_skip("image verification") {
        return;
    }
    let rootfs = build_rootfs();
    let tar = rootfs.path().with_extension("tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(rootfs.path())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status();
    assert!(status.expect("tar runs").success());
    let name = format!("localhost/carapace-test-{}", std::process::id());
    let import = Command::new("podman")
        .args(["import", "-q"])
        .arg(&tar)
        .arg(&name)
        .output()
        .expect("import");
    let _ = std::fs::remove_file(&tar);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let id = String::from_utf8_lossy(&import.stdout)
        .trim()
        .trim_start_matches("sha256:")
        .to_owned();
    let podman = Podman::new(&config());

    let good = ImageRef::parse(&id).expect("pinned");
    let verified = podman
        .verify_image(&good, &[])
        .await
        .expect("the imported image verifies");
    assert_eq!(verified.id, id);
    let wrong_id = ImageRef::parse(&format!(
        "{}{}",
        &id[..63],
        if id.ends_with('0') { '1' } else { '0' }
    ))
    .expect("pinned");
    let err = podman
        .verify_image(&wrong_id, &[])
        .await
        .expect_err("wrong ID refused");
    assert!(
        matches!(err, RuntimeError::Image(ImageError::NotFound(_))),
        "{err}"
    );
    let wrong_digest =
        ImageRef::parse(&format!("{name}@sha256:{}", "0".repeat(64))).expect("pinned");
    assert!(podman.verify_image(&wrong_digest, &[]).await.is_err());
    let layers = vec![format!("sha256:{}", "1".repeat(64))];
    let err = podman
        .verify_image(&good, &layers)
        .await
        .expect_err("wrong layers refused");
    assert!(
        matches!(err, RuntimeError::Image(ImageError::Mismatch { .. })),
        "{err}"
    );

    // The verified image runs by ID with every hardening flag.
    let core = TestCore::start(CONFIG);
    let (session, dir) = open_shared_session(&core);
    let spec = spec(
        &session,
        ImageSource::Image(verified),
        &dir,
        &["/bin/agent.sh", "list_tools"],
    );
    let (out, _) = run_to_end(&podman, &spec).await;
    assert_eq!(answer(&out, "list_tools").1, "0", "{out}");
    let _ = Command::new("podman")
        .args(["rmi", "-f"])
        .arg(&name)
        .output();
}

#[tokio::test]
async fn our_containers_are_listed_killed_on_timeout_and_removed() {
    if !podman_or_skip("lifecycle") {
        return;
    }
    let rootfs = build_rootfs();
    let podman = Podman::new(&config());
    let socket_dir = tempfile::tempdir_in("/tmp").expect("dir");
    let session = format!("{:016x}", std::process::id() as u64 * 7919);
    let spec = spec(
        &session,
        ImageSource::Rootfs(rootfs.path().into()),
        socket_dir.path(),
        &["/bin/sleep", "60"],
    );
    let mut running = podman.run(&spec).expect("starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !podman.list_ours().await.expect("list").contains(&spec.name) {
        assert!(Instant::now() < deadline, "container never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exit = running
        .wait_timeout(Duration::from_millis(300))
        .await
        .expect("wait");
    assert_eq!(exit, carapace::runtime::process::Exit::TimedOut);
    assert!(
        !podman.list_ours().await.expect("list").contains(&spec.name),
        "killed and removed"
    );
    podman
        .remove(&spec.name)
        .await
        .expect("removing a gone container is fine");
}

/// Spawn-to-first-ipc-answer over 20 runs (printed, not asserted).
#[tokio::test]
async fn spawn_to_first_ipc_call_is_measured() {
    if !podman_or_skip("spawn timing") {
        return;
    }
    let rootfs = build_rootfs();
    let core = TestCore::start(CONFIG);
    let (session, dir) = open_shared_session(&core);
    let podman = Podman::new(&config());
    let spec = spec(
        &session,
        ImageSource::Rootfs(rootfs.path().into()),
        &dir,
        &["/bin/agent.sh", "first"],
    );
    let (mut first, mut total) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let started = Instant::now();
        let mut running = podman.run(&spec).expect("starts");
        let mut lines = BufReader::new(running.take_stdout().expect("stdout")).lines();
        while let Some(line) = lines.next_line().await.expect("read") {
            if line == "FIRST-IPC-DONE" {
                first.push(started.elapsed());
            }
        }
        running
            .wait_timeout(Duration::from_secs(30))
            .await
            .expect("wait");
        total.push(started.elapsed());
    }
    assert_eq!(first.len(), 20, "every run reached the core");
    first.sort();
    total.sort();
    eprintln!(
        "spawn-to-first-ipc-answer: p50 {:?} p90 {:?} min {:?}; spawn-to-exit p50 {:?} (podman+runc, 20 runs)",
        first[10], first[18], first[0], total[10]
    );
}

#[tokio::test]
async fn autodetection_finds_podman_here() {
    if !podman_or_skip("autodetection") {
        return;
    }
    let detected = carapace::runtime::select(&carapace::runtime::RuntimeConfig::default())
        .await
        .expect("an engine answers");
    assert_eq!(detected.engine(), carapace::runtime::EngineKind::Podman);
}
