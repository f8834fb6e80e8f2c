//! The launcher: `carapace __confine <spec> -- <handler> <args>` hides the core's sockets in a
//! mount namespace of its own, becomes the handler's own uid with no capabilities, restricts
//! itself with Landlock (which also sets no-new-privs), installs the seccomp filter, then execs
//! the handler; all of it survives the exec. A spec holds paths only, never a secret.

use std::fmt;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::Serialize;

use super::namespace::{self, SocketHiding};
use super::spec::ConfineSpec;
use super::{privileges, seccomp};

/// The newest Landlock ABI this code asks for; older kernels get what they support.
const REQUESTED_ABI: ABI = ABI::V10;

/// How much of a spec the kernel enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    /// Everything requested.
    Full,
    /// What this kernel supports (see [`ConfinementSupport::gaps`]).
    Partial,
    /// Nothing: the handler runs unconfined.
    None,
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Enforcement::Full => "fully-enforced",
            Enforcement::Partial => "partially-enforced",
            Enforcement::None => "unconfined",
        })
    }
}

/// Why the launcher could not confine or start the handler.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// The spec argument is not a valid spec.
    #[error("invalid confinement spec: {0}")]
    Spec(String),
    /// The temporary directory could not be made.
    #[error("cannot create {path}: {source}")]
    TmpDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Landlock refused the ruleset.
    #[error("landlock: {0}")]
    Landlock(#[from] landlock::RulesetError),
    /// The uid, groups or capabilities could not be dropped.
    #[error("cannot drop privileges: {0}")]
    Privileges(String),
    /// The seccomp filter could not be built or installed.
    #[error("seccomp: {0}")]
    Seccomp(String),
    /// The handler could not be executed.
    #[error("cannot execute {program}: {source}")]
    Exec {
        /// The program.
        program: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Restricts the calling thread (and everything it later executes) to `spec`.
pub fn restrict_self(spec: &ConfineSpec) -> Result<Enforcement, ConfineError> {
    let read_only = AccessFs::ReadFile | AccessFs::ReadDir;
    let device: BitFlags<AccessFs> =
        AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(REQUESTED_ABI))?
        .scope(Scope::from_all(REQUESTED_ABI))?;
    if !spec.allow_network {
        // Handled with no rule: every bind and connect is refused.
        ruleset = ruleset.handle_access(AccessNet::from_all(REQUESTED_ABI))?;
    }
    let status = ruleset
        .create()?
        .add_rules(path_beneath_rules(
            &spec.read_exec,
            AccessFs::from_read(REQUESTED_ABI),
        ))?
        .add_rules(path_beneath_rules(&spec.read_only, read_only))?
        .add_rules(path_beneath_rules(
            &spec.read_write,
            AccessFs::from_all(REQUESTED_ABI),
        ))?
        .add_rules(path_beneath_rules(&spec.devices, device))?
        .restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::None,
    })
}

/// What the stderr line of a launcher whose seccomp filter failed starts with.
pub(super) const NO_SECCOMP_LINE: &str = "CARAPACE-CONFINE: seccomp socket filter NOT installed: ";

/// The launcher: confines this process, then replaces it with `command`. Returns only on failure.
///
/// Order: the mount namespace (needs privileges), then the uid/gid and capabilities
/// ([`privileges`], fails closed), then the temporary directory (made as the handler), then
/// Landlock, then seccomp ([`seccomp`], last: it refuses calls the steps before make).
///
/// When the kernel could not enforce everything, one line
/// `CARAPACE-CONFINE: <enforcement> (landlock ABI <n>, sockets hidden|VISIBLE)` goes to stderr
/// (the core logs the handler's stderr) before the exec; when the spec's `hide` could not be
/// applied, a line `CARAPACE-CONFINE: sockets VISIBLE: <reason>` comes first, and one for a
/// seccomp filter that could not be installed. The handler still starts in these cases: the
/// core reports the same gaps from its own probe of the launcher.
pub fn exec_confined(spec: &ConfineSpec, command: &[String]) -> ConfineError {
    let Some((program, args)) = command.split_first() else {
        return ConfineError::Spec("no handler command".into());
    };
    // Before Landlock: a Landlock domain may not mount.
    let hiding = namespace::hide(spec);
    if let SocketHiding::Visible(reason) = &hiding {
        eprintln!("{}{reason}", namespace::VISIBLE_LINE);
    }
    let dropped = match privileges::drop_all(spec.run_as) {
        Ok(dropped) => dropped,
        Err(error) => return error,
    };
    if !dropped.bounding_cleared {
        eprintln!("CARAPACE-CONFINE: capability bounding set kept (no CAP_SETPCAP here)");
    }
    if let Some(tmp) = &spec.tmp_dir {
        let made = std::fs::DirBuilder::new().mode(0o700).create(tmp);
        if let Err(source) = made.or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        }) {
            return ConfineError::TmpDir {
                path: tmp.display().to_string(),
                source,
            };
        }
    }
    let enforcement = match restrict_self(spec) {
        Ok(enforcement) => enforcement,
        Err(error) => return error,
    };
    if enforcement != Enforcement::Full {
        eprintln!(
            "CARAPACE-CONFINE: {enforcement} ({}, {hiding})",
            super::probe()
        );
    }
    if let Err(error) = seccomp::install(spec.allow_network) {
        eprintln!("{NO_SECCOMP_LINE}{error}");
    }
    let mut handler = std::process::Command::new(program);
    handler.args(args);
    if let Some(tmp) = &spec.tmp_dir {
        handler.env("TMPDIR", tmp);
    }
    ConfineError::Exec {
        program: program.clone(),
        source: handler.exec(),
    }
}

/// What goes before the handler's program to run it confined: `<exe> __confine <spec> --`
/// (`carapace_exe` is normally `std::env::current_exe()`).
pub fn wrapper(carapace_exe: &Path, spec: &ConfineSpec) -> Vec<std::ffi::OsString> {
    vec![
        carapace_exe.as_os_str().to_owned(),
        "__confine".into(),
        spec.to_arg().into(),
        "--".into(),
    ]
}

/// The argv that starts `command` confined by `spec` through the launcher in `carapace_exe`.
pub fn launcher_command(
    carapace_exe: &Path,
    spec: &ConfineSpec,
    command: &[String],
) -> Vec<String> {
    let mut argv = vec![
        carapace_exe.display().to_string(),
        "__confine".to_owned(),
        spec.to_arg(),
        "--".to_owned(),
    ];
    argv.extend(command.iter().cloned());
    argv
}
