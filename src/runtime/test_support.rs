//! Shared fixtures and assertions for the adapters' unit tests.

use std::path::Path;

use super::config::RuntimeConfig;
use super::image::VerifiedImage;
use super::spec::{ContainerSpec, ImageSource};

/// A config with an OCI runtime, a cgroup manager and one extra argument.
pub fn sample_config() -> RuntimeConfig {
    RuntimeConfig {
        oci_runtime: Some("runc".into()),
        cgroup_manager: Some("cgroupfs".into()),
        extra_args: vec!["--extra".into()],
        ..RuntimeConfig::default()
    }
}

/// A spec with every kind of mount.
pub fn sample_spec() -> ContainerSpec {
    ContainerSpec::new(
        &sample_config(),
        "0123456789abcdef",
        "main",
        ImageSource::Image(VerifiedImage { id: "0".repeat(64) }),
        Path::new("/h/run/sessions/0123456789abcdef"),
        vec!["/bin/agent".into(), "--prompt".into(), "hello".into()],
    )
    .with_workspace(Path::new("/h/groups/main"))
    .with_state(Path::new("/h/data/agent/main"), "/home/agent/.claude")
    .with_overlay(Path::new("/h/run/skills"), "/skills")
    .with_env("ANTHROPIC_BASE_URL", "http://127.0.0.1:8119")
}

/// Argument lists as strings, for assertions.
pub fn strings(args: &[std::ffi::OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The values following each occurrence of `flag`.
pub fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

/// Every hardening flag podman and docker share, the mounts exactly as in
/// `spec`, no other host path, and only the spec's env.
pub fn assert_hardened(args: &[String], spec: &ContainerSpec, mount_options: &str) {
    for flag in ["--rm", "--read-only"] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing: {args:?}");
    }
    assert_eq!(values(args, "--network"), ["none"]);
    assert_eq!(values(args, "--cap-drop"), ["ALL"]);
    assert_eq!(values(args, "--security-opt"), ["no-new-privileges"]);
    assert_eq!(values(args, "--user"), ["100000:100000"]);
    assert_eq!(values(args, "--memory"), ["1g"]);
    assert_eq!(values(args, "--memory-swap"), ["1g"]);
    assert_eq!(values(args, "--cpus"), ["1"]);
    assert_eq!(values(args, "--pids-limit"), ["256"]);
    assert_eq!(
        values(args, "--ulimit"),
        ["nofile=1024:1024", "nproc=256:256"]
    );
    let tmpfs = values(args, "--tmpfs");
    assert_eq!(tmpfs.len(), 2, "{tmpfs:?}");
    assert_eq!(tmpfs[0], "/tmp:rw,noexec,nosuid,nodev,size=64m,mode=1777");
    assert!(tmpfs[1].starts_with("/home/agent:rw,noexec,nosuid,nodev,size=256m,mode=0700"));
    let mut labels = values(args, "--label");
    labels.sort_unstable();
    assert_eq!(
        labels,
        [
            "carapace.group=main",
            "carapace.managed=1",
            "carapace.session=0123456789abcdef"
        ]
    );
    let expected: Vec<String> = [
        "type=bind,source=/h/run/sessions/0123456789abcdef,destination=/run/carapace",
        "type=bind,source=/h/groups/main,destination=/workspace",
        "type=bind,source=/h/data/agent/main,destination=/home/agent/.claude",
        "type=bind,source=/h/run/skills,destination=/skills,readonly",
    ]
    .iter()
    .map(|m| format!("{m}{mount_options}"))
    .collect();
    assert_eq!(values(args, "--mount"), expected);
    assert_eq!(spec.mounts.len(), 4);
    for forbidden in ["-v", "--volume", "--privileged", "--env-host", "--env-file"] {
        assert!(!args.iter().any(|a| a == forbidden), "{forbidden} present");
    }
    assert!(!args
        .iter()
        .any(|a| a.starts_with("--volume") || a.starts_with("--cap-add")));
    assert_eq!(
        values(args, "--env"),
        [
            "HOME=/home/agent",
            "TMPDIR=/tmp",
            "ANTHROPIC_BASE_URL=http://127.0.0.1:8119"
        ]
    );
    assert_eq!(values(args, "--workdir"), ["/workspace"]);
}
