//! What one agent container is: its identity, image, user, command, env, mounts and limits.
//!
//! A [`ContainerSpec`] is plain data that every adapter turns into an argument
//! list. [`ContainerSpec::check`] refuses what must never reach an engine: a
//! relative or comma-bearing mount path, an env name that would inherit the
//! host's value, a value or argument that looks like a credential.

use std::path::{Component, Path, PathBuf};

use super::config::RuntimeConfig;
use super::image::VerifiedImage;
use super::RuntimeError;

/// Label on every container Carapace starts; cleanup finds them by it.
pub const MANAGED_LABEL: &str = "carapace.managed";
/// Label carrying the session id.
pub const SESSION_LABEL: &str = "carapace.session";
/// Label carrying the group name.
pub const GROUP_LABEL: &str = "carapace.group";
/// Where the session socket directory appears inside the container.
pub const SOCKET_DIR_TARGET: &str = "/run/carapace";
/// Where the group workspace appears inside the container.
pub const WORKSPACE_TARGET: &str = "/workspace";
/// The agent's home inside the container (a tmpfs the agent owns).
pub const HOME_TARGET: &str = "/home/agent";

/// The name of the container that serves `session_id`.
pub fn container_name(session_id: &str) -> String {
    format!("carapace-{session_id}")
}

/// What the container starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A verified image, run by its ID.
    Image(VerifiedImage),
    /// A root filesystem directory (podman `--rootfs`; tests only).
    Rootfs(PathBuf),
}

/// Why a mount is there; each kind has one fixed meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// The session socket directory, read-write at [`SOCKET_DIR_TARGET`].
    SocketDir,
    /// The group workspace, read-write.
    Workspace,
    /// The group's agent state directory, read-write.
    State,
    /// A read-only overlay: settings, instructions, skills.
    Overlay,
}

/// One bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What the mount is for.
    pub kind: MountKind,
    /// The host path (absolute).
    pub source: PathBuf,
    /// The path inside the container (absolute).
    pub target: String,
    /// Whether the container may only read it.
    pub read_only: bool,
}

/// Resource limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `--memory` (and the swap limit), e.g. `1g`.
    pub memory: String,
    /// `--cpus`, as written on the command line.
    pub cpus: String,
    /// `--pids-limit`.
    pub pids: u32,
    /// `RLIMIT_NOFILE`, soft and hard.
    pub nofile: u32,
    /// `RLIMIT_NPROC`, soft and hard.
    pub nproc: u32,
    /// Size of the noexec `/tmp` tmpfs.
    pub tmp_size: String,
    /// Size of the agent's home tmpfs.
    pub home_size: String,
}

/// Everything an adapter needs to start one agent container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The container name, `carapace-<session>`.
    pub name: String,
    /// The session the container serves.
    pub session_id: String,
    /// The session's group.
    pub group: String,
    /// The image or rootfs.
    pub image: ImageSource,
    /// The agent's uid and gid.
    pub user: (u32, u32),
    /// Program and arguments.
    pub command: Vec<String>,
    /// Environment, set explicitly (never inherited, never a secret).
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub workdir: String,
    /// Bind mounts, and nothing else is mounted from the host.
    pub mounts: Vec<Mount>,
    /// Resource limits.
    pub limits: Limits,
    /// Whether to run an init process as PID 1.
    pub init: bool,
}

impl ContainerSpec {
    /// A spec for `session_id` of `group` with the config's user and limits and
    /// the session socket dir mounted at [`SOCKET_DIR_TARGET`]; `HOME` and `TMPDIR` are set.
    pub fn new(
        config: &RuntimeConfig,
        session_id: &str,
        group: &str,
        image: ImageSource,
        socket_dir: &Path,
        command: Vec<String>,
    ) -> ContainerSpec {
        ContainerSpec {
            name: container_name(session_id),
            session_id: session_id.to_owned(),
            group: group.to_owned(),
            image,
            user: (config.agent_uid, config.agent_gid),
            command,
            env: vec![
                ("HOME".into(), HOME_TARGET.into()),
                ("TMPDIR".into(), "/tmp".into()),
            ],
            workdir: "/".into(),
            mounts: vec![Mount {
                kind: MountKind::SocketDir,
                source: socket_dir.to_owned(),
                target: SOCKET_DIR_TARGET.into(),
                read_only: false,
            }],
            limits: Limits {
                memory: config.memory.clone(),
                cpus: config.cpus_arg(),
                pids: config.pids_limit,
                nofile: config.nofile,
                nproc: config.nproc,
                tmp_size: config.tmp_size.clone(),
                home_size: config.home_size.clone(),
            },
            init: config.init,
        }
    }

    /// Mounts the group workspace read-write at [`WORKSPACE_TARGET`] and works there.
    pub fn with_workspace(mut self, source: &Path) -> ContainerSpec {
        self.mounts
            .push(mount(MountKind::Workspace, source, WORKSPACE_TARGET, false));
        self.workdir = WORKSPACE_TARGET.into();
        self
    }

    /// Mounts the group's agent state directory read-write at `target`.
    pub fn with_state(mut self, source: &Path, target: &str) -> ContainerSpec {
        self.mounts
            .push(mount(MountKind::State, source, target, false));
        self
    }

    /// Adds a read-only file or directory overlay at `target`.
    pub fn with_overlay(mut self, source: &Path, target: &str) -> ContainerSpec {
        self.mounts
            .push(mount(MountKind::Overlay, source, target, true));
        self
    }

    /// Sets an environment variable (replacing an earlier value).
    pub fn with_env(mut self, key: &str, value: &str) -> ContainerSpec {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The labels that let the core find its own containers.
    pub fn labels(&self) -> Vec<(String, String)> {
        vec![
            (MANAGED_LABEL.into(), "1".into()),
            (SESSION_LABEL.into(), self.session_id.clone()),
            (GROUP_LABEL.into(), self.group.clone()),
        ]
    }

    /// Refuses a spec that must not reach an engine.
    pub fn check(&self) -> Result<(), RuntimeError> {
        let bad = |what: String| Err(RuntimeError::InvalidSpec(what));
        if !plain(&self.session_id) || !crate::config::valid_group_name(&self.group) {
            return bad("session id or group is not a plain name".into());
        }
        if !plain(&self.name) {
            return bad("container name is not a plain name".into());
        }
        if self.user.0 == 0 || self.user.1 == 0 {
            return bad("the agent must not run as root".into());
        }
        match self.command.first() {
            Some(program) if !program.is_empty() && !program.starts_with('-') => {}
            _ => return bad("the command must name a program".into()),
        }
        for (key, value) in &self.env {
            let key_ok = key.bytes().enumerate().all(|(i, b)| {
                b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit())
            });
            if key.is_empty() || !key_ok || value.contains('\0') {
                return bad(format!("env `{key}` is not a plain NAME=value"));
            }
        }
        let secret = self
            .env
            .iter()
            .map(|(_, v)| v.as_str())
            .chain(self.command.iter().map(String::as_str))
            .any(|text| !crate::sanitize::shared().redact_str(text).1.is_empty());
        if secret {
            return bad("an env value or argument looks like a credential".into());
        }
        if let ImageSource::Rootfs(dir) = &self.image {
            check_path(dir)?;
        }
        for m in &self.mounts {
            check_path(&m.source)?;
            check_path(Path::new(&m.target))?;
            if m.target.contains(':') || m.target == "/" {
                return bad(format!("mount target `{}` is not allowed", m.target));
            }
        }
        Ok(())
    }
}

fn mount(kind: MountKind, source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        kind,
        source: source.to_owned(),
        target: target.to_owned(),
        read_only,
    }
}

/// `[A-Za-z0-9_-]`, as session ids, group and container names are.
fn plain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Absolute, normal, UTF-8, and free of the separators engine mount syntax uses.
fn check_path(path: &Path) -> Result<(), RuntimeError> {
    let text = path.to_str().unwrap_or(",");
    let normal = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !path.is_absolute() || !normal || text.contains([',', '=', '\0', '\n']) {
        return Err(RuntimeError::InvalidSpec(format!(
            "path `{}` must be absolute and plain (no `..`, `,` or `=`)",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample_spec;
    use super::*;

    fn refused(f: impl FnOnce(&mut ContainerSpec)) -> String {
        let mut spec = sample_spec();
        f(&mut spec);
        match spec.check() {
            Err(RuntimeError::InvalidSpec(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_sample_passes_and_carries_our_labels() {
        let spec = sample_spec();
        assert!(spec.check().is_ok());
        assert_eq!(spec.name, "carapace-0123456789abcdef");
        assert!(spec.labels().contains(&(MANAGED_LABEL.into(), "1".into())));
    }

    #[test]
    fn secrets_inherited_env_and_odd_paths_are_refused() {
        let key = "sk-ant-api03-".to_owned() + &"a".repeat(90);
        assert!(refused(|s| s.env.push(("X".into(), key.clone()))).contains("credential"));
        assert!(refused(|s| s.command.push(format!("--token={key}"))).contains("credential"));
        assert!(refused(|s| s.env.push(("A=B".into(), "x".into()))).contains("NAME=value"));
        assert!(refused(|s| s.env.push(("".into(), "x".into()))).contains("NAME=value"));
        assert!(refused(|s| s.mounts[0].source = "relative".into()).contains("absolute"));
        assert!(refused(|s| s.mounts[0].source = "/a/../etc".into()).contains("absolute"));
        assert!(refused(|s| s.mounts[0].source = "/a,b".into()).contains("absolute"));
        assert!(refused(|s| s.mounts[1].target = "/".into()).contains("not allowed"));
        assert!(refused(|s| s.user = (0, 0)).contains("root"));
        assert!(refused(|s| s.command = vec!["--privileged".into()]).contains("program"));
        assert!(refused(|s| s.group = "../x".into()).contains("plain"));
    }
}
