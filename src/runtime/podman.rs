//! The podman adapter (the default on Linux).
//!
//! `--runtime` and `--cgroup-manager` are podman's global flags, so they come
//! before `run`. With a rootfs directory (tests) `--rootfs DIR` is the last
//! flag, right before the command.

use std::ffi::OsString;
use std::time::Duration;

use super::config::{EngineKind, RuntimeConfig};
use super::image::{parse_oci_inspect, ImageError, ImageFacts};
use super::oci_cli::{self, Flavor};
use super::spec::ContainerSpec;
use super::{ContainerRuntime, RuntimeError};

/// Runs agent containers with podman.
#[derive(Debug, Clone)]
pub struct Podman {
    program: String,
    global: Vec<OsString>,
    extra: Vec<String>,
    timeout: Duration,
}

impl Podman {
    /// The adapter as `config` says (`program`, `oci_runtime`, `cgroup_manager`, `extra_args`).
    pub fn new(config: &RuntimeConfig) -> Podman {
        let mut global = Vec::new();
        if let Some(runtime) = &config.oci_runtime {
            global.push("--runtime".into());
            global.push(runtime.into());
        }
        if let Some(manager) = &config.cgroup_manager {
            global.push("--cgroup-manager".into());
            global.push(manager.into());
        }
        Podman {
            program: config.program.clone().unwrap_or_else(|| "podman".into()),
            global,
            extra: config.extra_args.clone(),
            timeout: Duration::from_millis(config.engine_timeout_ms),
        }
    }

    fn with_global(&self, args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
        self.global.iter().cloned().chain(args).collect()
    }
}

impl ContainerRuntime for Podman {
    fn engine(&self) -> EngineKind {
        EngineKind::Podman
    }

    fn program(&self) -> &str {
        &self.program
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn run_args(&self, spec: &ContainerSpec) -> Result<Vec<OsString>, RuntimeError> {
        let run = oci_cli::run_args(Flavor::Podman, spec, &[], &self.extra)?;
        Ok(self.with_global(run))
    }

    fn inspect_image_args(&self, reference: &str) -> Vec<OsString> {
        let args = ["image", "inspect", "--format", "json", "--", reference];
        self.with_global(args.map(OsString::from))
    }

    fn parse_image_inspect(&self, json: &[u8]) -> Result<ImageFacts, ImageError> {
        parse_oci_inspect(json)
    }

    fn list_ours_args(&self) -> Vec<OsString> {
        self.with_global(oci_cli::list_args())
    }

    fn remove_args(&self, name: &str) -> Vec<OsString> {
        let args = ["rm", "--force", "--ignore", "--time", "0", "--", name];
        self.with_global(args.map(OsString::from))
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::ImageSource;
    use super::super::test_support::{assert_hardened, sample_config, sample_spec, strings};
    use super::*;

    #[test]
    fn every_hardening_flag_is_present_and_mounts_are_exactly_the_spec() {
        let podman = Podman::new(&sample_config());
        let spec = sample_spec();
        let args = strings(&podman.run_args(&spec).expect("args"));
        assert_eq!(
            &args[..5],
            ["--runtime", "runc", "--cgroup-manager", "cgroupfs", "run"]
        );
        assert_hardened(&args, &spec, crate::runtime::oci_cli::BIND_HARDENING);
        for flag in ["--read-only-tmpfs=false", "--no-hosts", "--passwd=false"] {
            assert!(args.contains(&flag.to_owned()), "{flag} missing: {args:?}");
        }
        assert!(args
            .iter()
            .any(|a| a.starts_with("/home/agent:") && a.ends_with(",U")));
        // extra args sit right before the image, the command after it.
        let image = args
            .iter()
            .position(|a| *a == "0".repeat(64))
            .expect("image");
        assert_eq!(args[image - 1], "--extra");
        assert_eq!(&args[image + 1..], ["/bin/agent", "--prompt", "hello"]);
        assert!(args.contains(&"--pull".to_owned()));
    }

    #[test]
    fn a_rootfs_comes_last_before_the_command() {
        let podman = Podman::new(&sample_config());
        let mut spec = sample_spec();
        spec.image = ImageSource::Rootfs("/tmp/rootfs".into());
        let args = strings(&podman.run_args(&spec).expect("args"));
        let at = args.iter().position(|a| a == "--rootfs").expect("rootfs");
        assert_eq!(
            &args[at..],
            ["--rootfs", "/tmp/rootfs", "/bin/agent", "--prompt", "hello"]
        );
        assert!(!args.contains(&"--pull".to_owned()));
    }

    #[test]
    fn lifecycle_arguments_name_our_label() {
        let podman = Podman::new(&RuntimeConfig::default());
        let list = strings(&podman.list_ours_args());
        assert!(list.contains(&"label=carapace.managed=1".to_owned()));
        let remove = strings(&podman.remove_args("carapace-abc"));
        assert_eq!(remove.last().map(String::as_str), Some("carapace-abc"));
        assert!(remove.contains(&"--force".to_owned()));
        let inspect = strings(&podman.inspect_image_args("sha256:x"));
        assert_eq!(
            inspect,
            ["image", "inspect", "--format", "json", "--", "sha256:x"]
        );
    }
}
