//! The docker adapter. Chosen only when the docker *engine* answers: a client
//! on `PATH` with no daemon behind it does not count.
//!
//! `--runtime` is a `run` flag in docker. docker cannot run a rootfs
//! directory, and it always mounts its own `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf` (read-only files it generates, no host paths).

use std::ffi::OsString;
use std::time::Duration;

use super::config::{EngineKind, RuntimeConfig};
use super::image::{parse_oci_inspect, ImageError, ImageFacts};
use super::oci_cli::{self, Flavor};
use super::spec::ContainerSpec;
use super::{ContainerRuntime, RuntimeError};

/// Runs agent containers with docker.
#[derive(Debug, Clone)]
pub struct Docker {
    program: String,
    run_level: Vec<OsString>,
    extra: Vec<String>,
    timeout: Duration,
}

impl Docker {
    /// The adapter as `config` says (`program`, `oci_runtime`, `extra_args`).
    pub fn new(config: &RuntimeConfig) -> Docker {
        let run_level = config
            .oci_runtime
            .iter()
            .flat_map(|r| [OsString::from("--runtime"), OsString::from(r)])
            .collect();
        Docker {
            program: config.program.clone().unwrap_or_else(|| "docker".into()),
            run_level,
            extra: config.extra_args.clone(),
            timeout: Duration::from_millis(config.engine_timeout_ms),
        }
    }
}

impl ContainerRuntime for Docker {
    fn engine(&self) -> EngineKind {
        EngineKind::Docker
    }

    fn program(&self) -> &str {
        &self.program
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn run_args(&self, spec: &ContainerSpec) -> Result<Vec<OsString>, RuntimeError> {
        oci_cli::run_args(Flavor::Docker, spec, &self.run_level, &self.extra)
    }

    fn inspect_image_args(&self, reference: &str) -> Vec<OsString> {
        [
            "image",
            "inspect",
            "--format",
            "{{json .}}",
            "--",
            reference,
        ]
        .map(OsString::from)
        .to_vec()
    }

    fn parse_image_inspect(&self, json: &[u8]) -> Result<ImageFacts, ImageError> {
        // `{{json .}}` prints one object; the default format prints an array.
        let trimmed = json.trim_ascii();
        if trimmed.starts_with(b"{") {
            let mut wrapped = Vec::with_capacity(trimmed.len() + 2);
            wrapped.push(b'[');
            wrapped.extend_from_slice(trimmed);
            wrapped.push(b']');
            return parse_oci_inspect(&wrapped);
        }
        parse_oci_inspect(trimmed)
    }

    fn list_ours_args(&self) -> Vec<OsString> {
        oci_cli::list_args()
    }

    fn remove_args(&self, name: &str) -> Vec<OsString> {
        ["rm", "--force", "--", name].map(OsString::from).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::ImageSource;
    use super::super::test_support::{
        assert_hardened, sample_config, sample_spec, strings, values,
    };
    use super::*;

    #[test]
    fn every_hardening_flag_is_present_with_docker_spelling() {
        let docker = Docker::new(&sample_config());
        let spec = sample_spec();
        let args = strings(&docker.run_args(&spec).expect("args"));
        assert_eq!(&args[..3], ["run", "--runtime", "runc"]);
        // docker's `--mount` takes no exec/suid/dev options (docs/security.md).
        assert_hardened(&args, &spec, "");
        assert!(!args
            .iter()
            .any(|a| a.contains("cgroup-manager") || a == "--no-hosts"));
        assert!(values(&args, "--tmpfs")[1].ends_with(",uid=100000,gid=100000"));
        let image = args
            .iter()
            .position(|a| *a == "0".repeat(64))
            .expect("image");
        assert_eq!(args[image - 1], "--extra");
    }

    #[test]
    fn a_rootfs_is_refused() {
        let mut spec = sample_spec();
        spec.image = ImageSource::Rootfs("/tmp/rootfs".into());
        let err = Docker::new(&sample_config()).run_args(&spec);
        assert!(matches!(err, Err(RuntimeError::Unsupported(_))));
    }

    #[test]
    fn docker_inspect_output_is_parsed_as_one_object() {
        let id = "a".repeat(64);
        let json =
            format!("{{\"Id\":\"sha256:{id}\",\"RepoDigests\":[],\"RootFS\":{{\"Layers\":[]}}}}\n");
        let facts = Docker::new(&RuntimeConfig::default())
            .parse_image_inspect(json.as_bytes())
            .expect("parses");
        assert_eq!(facts.id, id);
    }
}
