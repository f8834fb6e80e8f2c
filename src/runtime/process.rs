//! Running engine commands: explicit arguments, a scrubbed environment, deadlines.
//!
//! The engine inherits only the few variables it needs to find its own state
//! (`PATH`, `HOME`, `XDG_*`, its own `CONTAINERS_*`/`DOCKER_*` settings), so
//! nothing secret in the core's environment can reach an engine flag such as
//! `--env-host`. A running container is killed through the engine (`rm -f`),
//! since killing the attached client would leave the container behind.

use std::ffi::OsString;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, ChildStderr, ChildStdout, Command};

use super::{ContainerRuntime, RuntimeError};

/// Variables an engine may inherit from the core.
const KEPT_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "CONTAINERS_CONF",
    "CONTAINERS_STORAGE_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINER_HOST",
    "CONTAINER_CONNECTION",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
];

/// A command for `program` with `args`, stdin closed and the environment scrubbed.
pub fn command(program: &str, args: &[OsString]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear().stdin(Stdio::null());
    for key in KEPT_ENV {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd
}

/// Runs an engine command to completion within the runtime's timeout.
pub async fn output(
    runtime: &(impl ContainerRuntime + ?Sized),
    args: Vec<OsString>,
) -> Result<Output, RuntimeError> {
    let program = runtime.program().to_owned();
    let timeout = runtime.timeout();
    let mut cmd = command(&program, &args);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
        program: program.clone(),
        source,
    })?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(|source| RuntimeError::Spawn { program, source }),
        Err(_) => Err(RuntimeError::Timeout { program, timeout }),
    }
}

/// [`output`], failing with the engine's stderr when it exits non-zero.
pub async fn checked_output(
    runtime: &(impl ContainerRuntime + ?Sized),
    args: Vec<OsString>,
) -> Result<Output, RuntimeError> {
    let out = output(runtime, args).await?;
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(RuntimeError::Failed {
        program: runtime.program().to_owned(),
        status: out.status.to_string(),
        stderr: stderr.lines().take(5).collect::<Vec<_>>().join(" | "),
    })
}

/// How a container's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The engine client exited (with the container's status, for podman and docker).
    Exited(ExitStatus),
    /// The deadline passed; the container was killed and removed.
    TimedOut,
}

/// An attached container: the engine client process and its output streams.
#[derive(Debug)]
pub struct RunningContainer {
    name: String,
    program: String,
    remove: Vec<OsString>,
    child: Child,
}

impl RunningContainer {
    /// Spawns `program args` with stdout and stderr piped.
    pub fn spawn(
        program: &str,
        args: Vec<OsString>,
        remove: Vec<OsString>,
        name: String,
    ) -> Result<RunningContainer, RuntimeError> {
        let mut cmd = command(program, &args);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            program: program.to_owned(),
            source,
        })?;
        Ok(RunningContainer {
            name,
            program: program.to_owned(),
            remove,
            child,
        })
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container's stdout, once.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The container's stderr (and the engine's own messages), once.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Waits for the container to exit.
    pub async fn wait(&mut self) -> Result<ExitStatus, RuntimeError> {
        self.child
            .wait()
            .await
            .map_err(|source| RuntimeError::Spawn {
                program: self.program.clone(),
                source,
            })
    }

    /// Waits up to `deadline`; past it, kills and removes the container.
    pub async fn wait_timeout(&mut self, deadline: Duration) -> Result<Exit, RuntimeError> {
        match tokio::time::timeout(deadline, self.wait()).await {
            Ok(status) => status.map(Exit::Exited),
            Err(_) => {
                self.kill().await?;
                Ok(Exit::TimedOut)
            }
        }
    }

    /// Kills and removes the container through the engine, then reaps the client.
    ///
    /// The engine is asked twice: once to end a running container, and again
    /// once the client is dead, for a container the client was still creating
    /// at the first ask (podman's client creates it itself, so once it is dead,
    /// no container of this run can appear).
    pub async fn kill(&mut self) -> Result<(), RuntimeError> {
        let first = self.remove_container().await;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let second = self.remove_container().await;
        first.and(second)
    }

    async fn remove_container(&self) -> Result<(), RuntimeError> {
        let mut cmd = command(&self.program, &self.remove);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        match tokio::time::timeout(Duration::from_secs(30), cmd.status()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(RuntimeError::Spawn {
                program: self.program.clone(),
                source,
            }),
            Err(_) => Err(RuntimeError::Timeout {
                program: self.program.clone(),
                timeout: Duration::from_secs(30),
            }),
        }
    }
}
