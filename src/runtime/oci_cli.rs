//! The `run` arguments podman and docker share: every hardening flag, the
//! limits, the tmpfs mounts, the labels, the env and the bind mounts.
//!
//! The two CLIs agree on almost everything; where they differ (podman's
//! `--read-only-tmpfs=false`, `--no-hosts`, `--passwd=false` and its `U` tmpfs
//! option; docker's `uid=`/`gid=` tmpfs options and run-level `--runtime`) the
//! [`Flavor`] says which to write.

use std::ffi::OsString;

use super::spec::{ContainerSpec, ImageSource, HOME_TARGET};
use super::RuntimeError;

/// The options every podman bind mount gets, read-only or not.
pub const BIND_HARDENING: &str = ",noexec,nosuid,nodev";

/// Which of the two OCI CLIs the arguments are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// podman.
    Podman,
    /// docker.
    Docker,
}

/// The `run ...` arguments for `spec`, `extra` placed just before the image or rootfs.
///
/// `run_level` are flags that go right after `run` (docker's `--runtime`).
pub fn run_args(
    flavor: Flavor,
    spec: &ContainerSpec,
    run_level: &[OsString],
    extra: &[String],
) -> Result<Vec<OsString>, RuntimeError> {
    spec.check()?;
    let (uid, gid) = spec.user;
    let limits = &spec.limits;
    let mut args: Vec<String> = vec!["run".into()];
    let mut out: Vec<OsString> = Vec::new();
    args.extend(["--rm", "--name"].map(String::from));
    args.push(spec.name.clone());
    for (key, value) in spec.labels() {
        args.push("--label".into());
        args.push(format!("{key}={value}"));
    }
    args.extend(
        [
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--log-driver",
            "none",
        ]
        .map(String::from),
    );
    if flavor == Flavor::Podman {
        // No writable /run, /var/tmp, /etc/hosts or /etc/passwd from the engine.
        args.extend(["--read-only-tmpfs=false", "--no-hosts", "--passwd=false"].map(String::from));
    }
    args.push("--user".into());
    args.push(format!("{uid}:{gid}"));
    for (flag, value) in [
        ("--memory", limits.memory.clone()),
        ("--memory-swap", limits.memory.clone()),
        ("--cpus", limits.cpus.clone()),
        ("--pids-limit", limits.pids.to_string()),
        ("--ulimit", format!("nofile={0}:{0}", limits.nofile)),
        ("--ulimit", format!("nproc={0}:{0}", limits.nproc)),
        (
            "--tmpfs",
            format!(
                "/tmp:rw,noexec,nosuid,nodev,size={},mode=1777",
                limits.tmp_size
            ),
        ),
    ] {
        args.push(flag.into());
        args.push(value);
    }
    // runc leaves a tmpfs root-owned: podman's `U` chowns it to --user, docker
    // passes uid/gid to the kernel.
    let owner = match flavor {
        Flavor::Podman => "U".to_owned(),
        Flavor::Docker => format!("uid={uid},gid={gid}"),
    };
    args.push("--tmpfs".into());
    args.push(format!(
        "{HOME_TARGET}:rw,noexec,nosuid,nodev,size={},mode=0700,{owner}",
        limits.home_size
    ));
    if spec.init {
        args.push("--init".into());
    }
    if matches!(spec.image, ImageSource::Image(_)) {
        args.extend(["--pull", "never"].map(String::from));
    }
    args.push("--workdir".into());
    args.push(spec.workdir.clone());
    for (key, value) in &spec.env {
        args.push("--env".into());
        args.push(format!("{key}={value}"));
    }
    for m in &spec.mounts {
        let source = m.source.to_str().unwrap_or_default();
        let mut value = format!("type=bind,source={source},destination={}", m.target);
        if m.read_only {
            value.push_str(",readonly");
        }
        if flavor == Flavor::Podman {
            // Nothing the agent writes may run, gain privileges or be a device
            // (issue 12, finding 10). docker's `--mount` has no such options.
            value.push_str(BIND_HARDENING);
        }
        args.push("--mount".into());
        args.push(value);
    }
    let mut iter = args.into_iter().map(OsString::from);
    out.extend(iter.next());
    out.extend(run_level.iter().cloned());
    out.extend(iter);
    out.extend(extra.iter().map(OsString::from));
    match &spec.image {
        ImageSource::Image(image) => out.push(image.id.clone().into()),
        ImageSource::Rootfs(dir) if flavor == Flavor::Podman => {
            // `--rootfs DIR` must come last: the next word is the command.
            out.push("--rootfs".into());
            out.push(dir.clone().into_os_string());
        }
        ImageSource::Rootfs(_) => {
            return Err(RuntimeError::Unsupported(
                "a rootfs directory needs podman".into(),
            ))
        }
    }
    out.extend(spec.command.iter().map(OsString::from));
    Ok(out)
}

/// Arguments that list our containers, one name per line.
pub fn list_args() -> Vec<OsString> {
    [
        "ps",
        "--all",
        "--filter",
        "label=carapace.managed=1",
        "--format",
        "{{.Names}}",
    ]
    .map(OsString::from)
    .to_vec()
}
