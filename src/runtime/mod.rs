//! Container runtimes: the engines that run agent containers, behind one trait.
//!
//! Each adapter (podman, docker, Apple `container`) builds its argument lists
//! as data, unit-tested without the engine; [`process`] runs them with explicit
//! arguments (never a shell) and a scrubbed environment. This module never
//! decides *what* to run: the session layer builds a [`ContainerSpec`].

pub mod access;
pub mod apple;
pub mod config;
pub mod docker;
pub mod image;
pub mod oci_cli;
pub mod podman;
pub mod process;
pub mod rootfs;
pub mod spec;
#[cfg(test)]
mod test_support;

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

pub use config::{EngineKind, RuntimeConfig};
pub use image::{ImageError, ImageFacts, ImageRef, VerifiedImage};
pub use process::RunningContainer;
pub use spec::{ContainerSpec, ImageSource, Mount, MountKind};

/// Why a container could not be prepared, verified, started or removed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No engine answered.
    #[error("no container engine answers: {0}")]
    NoEngine(String),
    /// The engine cannot do what the spec or config asks.
    #[error("not supported by this engine: {0}")]
    Unsupported(String),
    /// The spec would be unsafe to run.
    #[error("refusing to start the container: {0}")]
    InvalidSpec(String),
    /// The image is missing or not the pinned one.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The engine program could not be run.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The engine program.
        program: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The engine did not answer in time.
    #[error("{program} did not answer within {timeout:?}")]
    Timeout {
        /// The engine program.
        program: String,
        /// How long it was given.
        timeout: Duration,
    },
    /// The engine answered with a failure.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        /// The engine program.
        program: String,
        /// Its exit status.
        status: String,
        /// The first lines of its stderr.
        stderr: String,
    },
}

/// A container engine. Object-safe: the core holds an `Arc<dyn ContainerRuntime>`.
pub trait ContainerRuntime: Send + Sync + std::fmt::Debug {
    /// Which engine this is.
    fn engine(&self) -> EngineKind;
    /// The program to run (a path or a name on `PATH`).
    fn program(&self) -> &str;
    /// How long probes, inspects and removals may take.
    fn timeout(&self) -> Duration;
    /// The full argument list that starts `spec` in the foreground, attached.
    fn run_args(&self, spec: &ContainerSpec) -> Result<Vec<OsString>, RuntimeError>;
    /// Arguments that print the engine's JSON description of one image.
    fn inspect_image_args(&self, reference: &str) -> Vec<OsString>;
    /// Parses [`ContainerRuntime::inspect_image_args`]' output.
    fn parse_image_inspect(&self, json: &[u8]) -> Result<ImageFacts, ImageError>;
    /// Arguments that list every container with our label, one name per line.
    fn list_ours_args(&self) -> Vec<OsString>;
    /// Arguments that kill (if running) and remove container `name`.
    fn remove_args(&self, name: &str) -> Vec<OsString>;
    /// Arguments that import a root filesystem tarball from stdin as image `tag`,
    /// run as `user` in `workdir`; `None` where the engine has no import.
    fn import_args(&self, tag: &str, user: (u32, u32), workdir: &str) -> Option<Vec<OsString>> {
        Some(
            [
                "import".to_owned(),
                "--change".to_owned(),
                format!("USER {}:{}", user.0, user.1),
                "--change".to_owned(),
                format!("WORKDIR {workdir}"),
                "-".to_owned(),
                tag.to_owned(),
            ]
            .map(OsString::from)
            .to_vec(),
        )
    }

    /// Inspects the configured image and checks it is the pinned one.
    fn verify_image<'a>(
        &'a self,
        image: &'a ImageRef,
        layers: &'a [String],
    ) -> BoxFuture<'a, Result<VerifiedImage, RuntimeError>> {
        Box::pin(async move {
            let reference = image.inspect_reference();
            let out = process::output(self, self.inspect_image_args(&reference)).await?;
            if !out.status.success() {
                return Err(ImageError::NotFound(reference).into());
            }
            let facts = self.parse_image_inspect(&out.stdout)?;
            Ok(image::verify(image, layers, &facts)?)
        })
    }

    /// Starts `spec`; stdout and stderr are piped for the caller to stream.
    fn run(&self, spec: &ContainerSpec) -> Result<RunningContainer, RuntimeError> {
        let args = self.run_args(spec)?;
        let remove = self.remove_args(&spec.name);
        RunningContainer::spawn(self.program(), args, remove, spec.name.clone())
    }

    /// Names of our containers (label `carapace.managed=1` and a `carapace-` name), running or not.
    fn list_ours(&self) -> BoxFuture<'_, Result<Vec<String>, RuntimeError>> {
        Box::pin(async move {
            let out = process::checked_output(self, self.list_ours_args()).await?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("carapace-"))
                .map(String::from)
                .collect())
        })
    }

    /// Kills and removes container `name` (gone already is fine).
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            process::checked_output(self, self.remove_args(name)).await?;
            Ok(())
        })
    }
}

/// The adapter for `kind` as configured, without asking the engine anything.
pub fn adapter(
    kind: EngineKind,
    config: &RuntimeConfig,
) -> Result<Arc<dyn ContainerRuntime>, RuntimeError> {
    Ok(match kind {
        EngineKind::Podman => Arc::new(podman::Podman::new(config)),
        EngineKind::Docker => Arc::new(docker::Docker::new(config)),
        EngineKind::Apple => Arc::new(apple::Apple::new(config)?),
    })
}

/// The configured engine, or the first that answers: podman, then docker
/// (then Apple `container` on macOS). An engine that only has a client on
/// `PATH` (docker without a daemon) does not count.
pub async fn select(config: &RuntimeConfig) -> Result<Arc<dyn ContainerRuntime>, RuntimeError> {
    if let Some(kind) = config.engine {
        return adapter(kind, config);
    }
    let mut tried = Vec::new();
    let candidates: &[EngineKind] = if cfg!(target_os = "macos") {
        &[EngineKind::Podman, EngineKind::Docker, EngineKind::Apple]
    } else {
        &[EngineKind::Podman, EngineKind::Docker]
    };
    for &kind in candidates {
        let runtime = adapter(kind, config)?;
        match probe(runtime.as_ref()).await {
            Ok(()) => return Ok(runtime),
            Err(e) => tried.push(format!("{}: {e}", kind.command())),
        }
    }
    Err(RuntimeError::NoEngine(tried.join("; ")))
}

/// Asks the engine (not just its client) to answer.
pub async fn probe(runtime: &dyn ContainerRuntime) -> Result<(), RuntimeError> {
    let args: &[&str] = match runtime.engine() {
        EngineKind::Podman => &["version", "--format", "json"],
        // Fails when the client cannot reach a daemon.
        EngineKind::Docker => &["version", "--format", "{{.Server.Version}}"],
        EngineKind::Apple => &["system", "status"],
    };
    let args = args.iter().map(OsString::from).collect();
    process::checked_output(runtime, args).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_program(program: &str) -> RuntimeConfig {
        RuntimeConfig {
            program: Some(program.into()),
            engine_timeout_ms: 2_000,
            ..RuntimeConfig::default()
        }
    }

    #[tokio::test]
    async fn only_an_engine_that_answers_is_detected() {
        // `false` is a client that exits non-zero, like docker without a daemon.
        for program in ["/nonexistent/engine", "false"] {
            let err = select(&with_program(program))
                .await
                .expect_err("none answers");
            assert!(matches!(err, RuntimeError::NoEngine(_)), "{err}");
        }
        let found = select(&with_program("true")).await.expect("answers");
        assert_eq!(found.engine(), EngineKind::Podman, "podman is tried first");
    }

    #[tokio::test]
    async fn a_configured_engine_is_taken_as_is() {
        let config = RuntimeConfig {
            engine: Some(EngineKind::Docker),
            ..with_program("/nonexistent/engine")
        };
        let runtime = select(&config).await.expect("configured");
        assert_eq!(runtime.engine(), EngineKind::Docker);
        assert!(matches!(
            probe(runtime.as_ref()).await,
            Err(RuntimeError::Spawn { .. })
        ));
    }
}
