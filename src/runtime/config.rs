//! `[runtime]` in `config.toml`: which container engine runs agents, and how.
//!
//! Every field has a default, so an empty section (or none) works on a host
//! with rootful podman and runc. [`RuntimeConfig::check`] says what types alone
//! cannot (a memory size, a positive CPU count, an image pinned by digest).

use serde::{Deserialize, Serialize};

use super::image::ImageRef;

/// The container engines Carapace can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// `podman` (the default on Linux).
    Podman,
    /// `docker` (the engine must answer, not just the client).
    Docker,
    /// Apple's `container` (macOS; each container is a lightweight VM).
    Apple,
}

impl EngineKind {
    /// The engine's command name, also its name in the config.
    pub fn command(self) -> &'static str {
        match self {
            EngineKind::Podman => "podman",
            EngineKind::Docker => "docker",
            EngineKind::Apple => "container",
        }
    }

    /// Whether the engine can mount host directories `noexec,nosuid,nodev`
    /// (issue 12, finding 10): podman can; docker's `--mount` and Apple's
    /// file sharing cannot, so there the workspace and agent state stay executable.
    pub fn hardens_bind_mounts(self) -> bool {
        match self {
            EngineKind::Podman => true,
            EngineKind::Docker | EngineKind::Apple => false,
        }
    }
}

/// `[runtime]`: the container engine and the limits of every agent container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// `podman`, `docker` or `apple`; detected when unset (podman, then docker).
    pub engine: Option<EngineKind>,
    /// The engine's program (a path or a name on `PATH`); the engine's name when unset.
    pub program: Option<String>,
    /// OCI runtime handed to the engine (`--runtime`), e.g. `runc` or gVisor's `runsc`.
    pub oci_runtime: Option<String>,
    /// podman only: `--cgroup-manager` (`cgroupfs` where systemd is not the init).
    pub cgroup_manager: Option<String>,
    /// Extra engine arguments, placed after Carapace's own and before the image.
    pub extra_args: Vec<String>,
    /// The agent image, pinned: `name@sha256:<hex>`, `sha256:<hex>` or a 64-hex image ID.
    pub image: Option<String>,
    /// When non-empty, the image's layer diff_ids must equal these, in order.
    pub image_layers: Vec<String>,
    /// A root filesystem directory run instead of an image (podman `--rootfs`; tests).
    pub rootfs: Option<std::path::PathBuf>,
    /// The agent's uid inside the container (never an id a host user has).
    pub agent_uid: u32,
    /// The agent's gid; the session directory is shared with this group alone.
    pub agent_gid: u32,
    /// Memory limit (`--memory`, also the swap limit), e.g. `1g`, `512m`.
    pub memory: String,
    /// CPU limit (`--cpus`).
    pub cpus: f64,
    /// Most processes in the container (`--pids-limit`).
    pub pids_limit: u32,
    /// `RLIMIT_NOFILE`, soft and hard.
    pub nofile: u32,
    /// `RLIMIT_NPROC`, soft and hard (runc needs it explicit).
    pub nproc: u32,
    /// Size of the noexec `/tmp` tmpfs, e.g. `64m`.
    pub tmp_size: String,
    /// Size of the agent's home tmpfs (owned by the agent uid), e.g. `256m`.
    pub home_size: String,
    /// Run an init process (`--init`) as PID 1 to reap zombies; off because
    /// podman mounts a host binary for it: ship an init in the image instead.
    pub init: bool,
    /// How long an engine may take to answer a probe, inspect or remove, in milliseconds.
    pub engine_timeout_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            engine: None,
            program: None,
            oci_runtime: None,
            cgroup_manager: None,
            extra_args: Vec::new(),
            image: None,
            image_layers: Vec::new(),
            rootfs: None,
            agent_uid: 100_000,
            agent_gid: 100_000,
            memory: "1g".into(),
            cpus: 1.0,
            pids_limit: 256,
            nofile: 1024,
            nproc: 256,
            tmp_size: "64m".into(),
            home_size: "256m".into(),
            init: false,
            engine_timeout_ms: 5_000,
        }
    }
}

impl RuntimeConfig {
    /// Checks what types alone cannot; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        for (key, value) in [
            ("memory", &self.memory),
            ("tmp_size", &self.tmp_size),
            ("home_size", &self.home_size),
        ] {
            if !valid_size(value) {
                return Err(format!(
                    "key `runtime.{key}`: `{value}` is not a size like 512m or 1g"
                ));
            }
        }
        if !(self.cpus.is_finite() && self.cpus > 0.0 && self.cpus <= 1024.0) {
            return Err("key `runtime.cpus`: must be a positive number".into());
        }
        for (key, value) in [
            ("pids_limit", self.pids_limit),
            ("nofile", self.nofile),
            ("nproc", self.nproc),
        ] {
            if value == 0 {
                return Err(format!("key `runtime.{key}`: must be at least 1"));
            }
        }
        if self.agent_uid == 0 || self.agent_gid == 0 {
            return Err("key `runtime.agent_uid`/`agent_gid`: the agent must not be root".into());
        }
        if let Some(image) = &self.image {
            ImageRef::parse(image).map_err(|e| format!("key `runtime.image`: {e}"))?;
        }
        if let Some(dir) = &self.rootfs {
            if !dir.is_absolute() || self.image.is_some() {
                return Err("key `runtime.rootfs`: must be an absolute path, and not set with runtime.image".into());
            }
        }
        for (key, value) in [
            ("oci_runtime", &self.oci_runtime),
            ("cgroup_manager", &self.cgroup_manager),
        ] {
            if value.as_deref().is_some_and(|v| !valid_word(v)) {
                return Err(format!("key `runtime.{key}`: must be a plain name"));
            }
        }
        if self.engine_timeout_ms == 0 {
            return Err("key `runtime.engine_timeout_ms`: must be at least 1".into());
        }
        Ok(())
    }

    /// The CPU limit as the engines write it (`1`, `0.5`).
    pub fn cpus_arg(&self) -> String {
        format!("{}", self.cpus)
    }
}

/// `<digits>[kmg]`, e.g. `64m`.
pub fn valid_size(text: &str) -> bool {
    let digits = text.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G']);
    !digits.is_empty()
        && digits.len() + 1 >= text.len()
        && digits.len() <= 12
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A name safe to pass as one engine argument value: `[A-Za-z0-9._/-]`, not starting with `-`.
fn valid_word(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_podman_mounts_host_directories_noexec() {
        // `doctor` warns for the others (issue 12, finding 10).
        assert!(EngineKind::Podman.hardens_bind_mounts());
        assert!(!EngineKind::Docker.hardens_bind_mounts());
        assert!(!EngineKind::Apple.hardens_bind_mounts());
    }

    #[test]
    fn the_defaults_pass_their_own_check() {
        let config = RuntimeConfig::default();
        assert_eq!(config.check(), Ok(()));
        assert_eq!((config.agent_uid, config.agent_gid), (100_000, 100_000));
    }

    #[test]
    fn a_section_parses_and_unknown_keys_are_refused() {
        let config: RuntimeConfig = toml::from_str(
            "engine = \"docker\"\noci_runtime = \"runsc\"\nextra_args = [\"--x\"]\n",
        )
        .expect("valid");
        assert_eq!(config.engine, Some(EngineKind::Docker));
        assert_eq!(config.memory, "1g");
        assert!(toml::from_str::<RuntimeConfig>("engin = \"podman\"\n").is_err());
        assert!(toml::from_str::<RuntimeConfig>("engine = \"lxc\"\n").is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |f: fn(&mut RuntimeConfig)| {
            let mut config = RuntimeConfig::default();
            f(&mut config);
            config.check().expect_err("refused")
        };
        assert!(bad(|c| c.memory = "lots".into()).contains("runtime.memory"));
        assert!(bad(|c| c.cpus = 0.0).contains("runtime.cpus"));
        assert!(bad(|c| c.agent_uid = 0).contains("agent_uid"));
        assert!(bad(|c| c.image = Some("busybox:latest".into())).contains("runtime.image"));
        assert!(bad(|c| c.oci_runtime = Some("--privileged".into())).contains("oci_runtime"));
        assert!(bad(|c| c.rootfs = Some("rel/dir".into())).contains("runtime.rootfs"));
        assert!(valid_size("512m") && valid_size("1024") && !valid_size("m") && !valid_size("1mm"));
    }
}
