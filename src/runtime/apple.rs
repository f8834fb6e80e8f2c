//! The Apple `container` adapter (macOS): each container is a lightweight VM.
//!
//! Argument building only is tested here (no macOS in CI). Differences from
//! podman/docker, taken from the `container run` reference: no
//! `--security-opt`, `--pids-limit` or tmpfs options exist (the VM boundary and
//! its memory limit stand in for them); `--cpus` is a whole count; Unix sockets
//! do not cross a directory share, so each session socket is published as its
//! own volume (as `--ssh` does for the SSH agent socket). An OCI runtime
//! cannot be chosen, so configuring one is refused rather than ignored.

use std::ffi::OsString;
use std::time::Duration;

use serde::Deserialize;

use super::config::{EngineKind, RuntimeConfig};
use super::image::{ImageError, ImageFacts};
use super::spec::{ContainerSpec, ImageSource, MountKind, HOME_TARGET};
use super::{ContainerRuntime, RuntimeError};

/// The sockets in a session directory that are published one by one.
pub const SESSION_SOCKETS: &[&str] = &["ipc.sock", "model.sock"];

/// Runs agent containers with Apple's `container`.
#[derive(Debug, Clone)]
pub struct Apple {
    program: String,
    extra: Vec<String>,
    timeout: Duration,
}

impl Apple {
    /// The adapter as `config` says; an `oci_runtime` is refused.
    pub fn new(config: &RuntimeConfig) -> Result<Apple, RuntimeError> {
        if config.oci_runtime.is_some() {
            return Err(RuntimeError::Unsupported(
                "Apple `container` cannot use runtime.oci_runtime".into(),
            ));
        }
        Ok(Apple {
            program: config.program.clone().unwrap_or_else(|| "container".into()),
            extra: config.extra_args.clone(),
            timeout: Duration::from_millis(config.engine_timeout_ms),
        })
    }
}

#[derive(Deserialize)]
struct AppleImage {
    id: String,
    configuration: AppleConfiguration,
    #[serde(default)]
    variants: Vec<AppleVariant>,
}

#[derive(Deserialize)]
struct AppleConfiguration {
    descriptor: AppleDescriptor,
}

#[derive(Deserialize)]
struct AppleDescriptor {
    digest: String,
}

#[derive(Deserialize)]
struct AppleVariant {
    digest: String,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

impl ContainerRuntime for Apple {
    fn engine(&self) -> EngineKind {
        EngineKind::Apple
    }

    fn program(&self) -> &str {
        &self.program
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn run_args(&self, spec: &ContainerSpec) -> Result<Vec<OsString>, RuntimeError> {
        spec.check()?;
        let ImageSource::Image(image) = &spec.image else {
            return Err(RuntimeError::Unsupported(
                "a rootfs directory needs podman".into(),
            ));
        };
        let (uid, gid) = spec.user;
        let limits = &spec.limits;
        let cpus = limits
            .cpus
            .parse::<f64>()
            .map_or(1, |c| c.ceil().max(1.0) as u64);
        let mut args: Vec<String> = ["run", "--rm", "--name", &spec.name]
            .map(String::from)
            .to_vec();
        for (key, value) in spec.labels() {
            args.extend(["--label".into(), format!("{key}={value}")]);
        }
        args.extend(["--network", "none", "--read-only", "--cap-drop", "ALL"].map(String::from));
        args.extend(["--user".into(), format!("{uid}:{gid}")]);
        args.extend(["--memory".into(), limits.memory.clone()]);
        args.extend(["--cpus".into(), cpus.to_string()]);
        args.extend(["--ulimit".into(), format!("nofile={0}:{0}", limits.nofile)]);
        args.extend(["--ulimit".into(), format!("nproc={0}:{0}", limits.nproc)]);
        args.extend(["--tmpfs", "/tmp", "--tmpfs", HOME_TARGET].map(String::from));
        if spec.init {
            args.push("--init".into());
        }
        args.extend(["--workdir".into(), spec.workdir.clone()]);
        for (key, value) in &spec.env {
            args.extend(["--env".into(), format!("{key}={value}")]);
        }
        for m in &spec.mounts {
            let source = m.source.to_str().unwrap_or_default();
            if m.kind == MountKind::SocketDir {
                for socket in SESSION_SOCKETS {
                    if m.source.join(socket).exists() {
                        args.push("--volume".into());
                        args.push(format!("{source}/{socket}:{}/{socket}", m.target));
                    }
                }
                continue;
            }
            let mut value = format!("type=bind,source={source},target={}", m.target);
            if m.read_only {
                value.push_str(",readonly");
            }
            args.extend(["--mount".into(), value]);
        }
        args.extend(self.extra.iter().cloned());
        args.push(image.id.clone());
        args.extend(spec.command.iter().cloned());
        Ok(args.into_iter().map(OsString::from).collect())
    }

    fn inspect_image_args(&self, reference: &str) -> Vec<OsString> {
        ["image", "inspect", reference].map(OsString::from).to_vec()
    }

    fn parse_image_inspect(&self, json: &[u8]) -> Result<ImageFacts, ImageError> {
        let images: Vec<AppleImage> =
            serde_json::from_slice(json).map_err(|e| ImageError::Inspect(e.to_string()))?;
        let [image] = <[AppleImage; 1]>::try_from(images)
            .map_err(|v| ImageError::Inspect(format!("expected one image, got {}", v.len())))?;
        let hex = |d: &str| d.rsplit(':').next().unwrap_or_default().to_owned();
        let layers = image
            .variants
            .iter()
            .filter_map(|v| {
                v.config
                    .as_ref()?
                    .pointer("/rootfs/diff_ids")?
                    .as_array()
                    .cloned()
            })
            .next()
            .unwrap_or_default()
            .iter()
            .filter_map(|l| l.as_str().map(String::from))
            .collect();
        let mut digests = vec![hex(&image.configuration.descriptor.digest)];
        digests.extend(image.variants.iter().map(|v| hex(&v.digest)));
        Ok(ImageFacts {
            id: hex(&image.id),
            digests,
            layers,
        })
    }

    fn list_ours_args(&self) -> Vec<OsString> {
        // No label filter: the caller keeps names starting with `carapace-`.
        ["list", "--all", "--quiet"].map(OsString::from).to_vec()
    }

    fn remove_args(&self, name: &str) -> Vec<OsString> {
        ["delete", "--force", name].map(OsString::from).to_vec()
    }

    fn import_args(&self, _tag: &str, _user: (u32, u32), _workdir: &str) -> Option<Vec<OsString>> {
        // Apple's `container` builds images from a Containerfile only.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{sample_config, sample_spec, values};
    use super::*;

    fn apple() -> Apple {
        let config = RuntimeConfig {
            oci_runtime: None,
            ..sample_config()
        };
        Apple::new(&config).expect("no oci runtime")
    }

    #[test]
    fn hardening_flags_and_mounts_in_apple_spelling() {
        let args: Vec<String> = apple()
            .run_args(&sample_spec())
            .expect("args")
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&args[..2], ["run", "--rm"]);
        assert_eq!(values(&args, "--network"), ["none"]);
        assert_eq!(values(&args, "--cap-drop"), ["ALL"]);
        assert_eq!(values(&args, "--user"), ["100000:100000"]);
        assert_eq!(
            values(&args, "--ulimit"),
            ["nofile=1024:1024", "nproc=256:256"]
        );
        assert!(args.contains(&"--read-only".to_owned()));
        assert_eq!(values(&args, "--tmpfs"), ["/tmp", "/home/agent"]);
        assert_eq!(
            values(&args, "--mount"),
            [
                "type=bind,source=/h/groups/main,target=/workspace",
                "type=bind,source=/h/data/agent/main,target=/home/agent/.claude",
                "type=bind,source=/h/run/skills,target=/skills,readonly",
            ]
        );
        // The socket dir of the sample does not exist, so no socket is published.
        assert!(values(&args, "--volume").is_empty());
        let image = args
            .iter()
            .position(|a| *a == "0".repeat(64))
            .expect("image");
        assert_eq!(args[image - 1], "--extra");
        assert_eq!(&args[image + 1..], ["/bin/agent", "--prompt", "hello"]);
    }

    #[test]
    fn an_oci_runtime_is_refused_and_apple_inspect_is_parsed() {
        assert!(Apple::new(&sample_config()).is_err());
        let d = "b".repeat(64);
        let json = format!(
            "[{{\"id\":\"{d}\",\"configuration\":{{\"descriptor\":{{\"digest\":\"sha256:{d}\"}}}},\
             \"variants\":[{{\"digest\":\"sha256:{}\",\"config\":{{\"rootfs\":{{\"diff_ids\":[\"sha256:1\"]}}}}}}]}}]",
            "c".repeat(64)
        );
        let facts = apple()
            .parse_image_inspect(json.as_bytes())
            .expect("parses");
        assert_eq!(facts.id, d);
        assert_eq!(facts.digests, vec![d.clone(), "c".repeat(64)]);
        assert_eq!(facts.layers, vec!["sha256:1".to_owned()]);
    }
}
