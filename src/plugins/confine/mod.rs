//! Landlock confinement of plugin handlers: what a handler may touch, and the launcher that enforces it.
//!
//! The core never confines itself. It runs `carapace __confine <spec-json> -- <handler> <args>`;
//! that launcher hides `$CARAPACE_HOME/run` and the places of the user's and the system's
//! service sockets ([`sockets`]) in a mount namespace of its own ([`namespace`]),
//! becomes the handler's own uid with no capabilities ([`privileges`]), restricts itself with
//! Landlock (which also sets no-new-privs), installs a seccomp socket filter ([`seccomp`]),
//! then execs the handler; all of it survives the exec. A spec holds paths only, never a
//! secret ([`spec`]). What this kernel enforces is measured, not assumed ([`report`]). This
//! module must never grant anything of `$CARAPACE_HOME` beyond the plugin's own folder, data
//! dir and credentials dir, nor the user's home directory or anything above it.

use std::fmt;

use landlock::{
    AccessFs, AccessNet, CompatLevel, Compatible, RestrictSelf, RestrictSelfAttr, Ruleset,
    RulesetAttr, Scope,
};
use serde::Serialize;

mod launch;
mod namespace;
mod observe;
mod privileges;
mod report;
mod seccomp;
mod sockets;
mod spec;

pub use launch::{
    exec_confined, launcher_command, restrict_self, wrapper, ConfineError, Enforcement,
};
pub use namespace::SocketHiding;
pub use observe::{observe, Observed};
pub use report::{enforced, probe_launcher, Enforced, LauncherProbe, CHECK_COMMAND};
pub use spec::{spec_for, ConfineSpec, RunAs, SpecRequest};

/// Whether the launcher in `carapace_exe` can hide a directory here (one process).
pub fn probe_namespaces(carapace_exe: &std::path::Path) -> SocketHiding {
    probe_launcher(carapace_exe, None).sockets
}

/// What the kernel offers, for `carapace status` and `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfinementSupport {
    /// The Landlock ABI version, or `None` when the kernel has no Landlock.
    pub abi: Option<u8>,
}

impl ConfinementSupport {
    /// Whether handlers are confined at all.
    pub fn is_confined(&self) -> bool {
        self.abi.is_some()
    }

    /// The protections this kernel cannot give, each with the ABI that brings it.
    pub fn gaps(&self) -> Vec<&'static str> {
        let abi = self.abi.unwrap_or(0);
        let all = [
            (
                1,
                "no filesystem confinement (Landlock missing or disabled)",
            ),
            (
                3,
                "truncating files is not restricted (needs Landlock ABI 3)",
            ),
            (
                4,
                "TCP bind/connect is not restricted (needs Landlock ABI 4)",
            ),
            (
                6,
                "signals and abstract unix sockets are not scoped (needs Landlock ABI 6)",
            ),
            (
                9,
                "connecting to pathname unix sockets is not restricted (needs Landlock ABI 9)",
            ),
            (
                10,
                "UDP bind/send is not restricted (needs Landlock ABI 10)",
            ),
        ];
        all.iter()
            .filter(|(since, _)| abi < *since)
            .map(|(_, gap)| *gap)
            .collect()
    }
}

impl fmt::Display for ConfinementSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.abi {
            Some(abi) => write!(f, "landlock ABI {abi}"),
            None => f.write_str("unconfined"),
        }
    }
}

/// Finds the kernel's Landlock ABI without restricting anything: each feature is requested
/// as a hard requirement on a builder that is never applied.
pub fn probe() -> ConfinementSupport {
    let fs = |access: AccessFs| {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(access)
            .is_ok()
    };
    let net = |access: AccessNet| {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(access)
            .is_ok()
    };
    let flags = |all_threads: bool| {
        let builder = RestrictSelf::default().set_compatibility(CompatLevel::HardRequirement);
        if all_threads {
            builder.all_threads(true).is_ok()
        } else {
            builder.log_subdomains(false).is_ok()
        }
    };
    let abi = if net(AccessNet::BindUdp) {
        10
    } else if fs(AccessFs::ResolveUnix) {
        9
    } else if flags(true) {
        8
    } else if flags(false) {
        7
    } else if Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .scope(Scope::Signal)
        .is_ok()
    {
        6
    } else if fs(AccessFs::IoctlDev) {
        5
    } else if net(AccessNet::BindTcp) {
        4
    } else if fs(AccessFs::Truncate) {
        3
    } else if fs(AccessFs::Refer) {
        2
    } else if fs(AccessFs::Execute) {
        1
    } else {
        0
    };
    ConfinementSupport {
        abi: (abi > 0).then_some(abi),
    }
}

/// Landlock, socket hiding and the launcher's self-check together, as `carapace doctor` shows
/// them: `landlock ABI 7, sockets hidden, seccomp, no capabilities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Isolation {
    /// What Landlock gives.
    pub landlock: ConfinementSupport,
    /// Whether the core's sockets are hidden from handlers.
    pub sockets: SocketHiding,
    /// What a confined check process measured (not run without Landlock).
    pub observed: Result<Observed, String>,
}

impl Isolation {
    /// Probes all; `carapace_exe` is the launcher (normally `std::env::current_exe()`),
    /// `run_as` the identity handlers get (the core is root).
    pub fn probe_as(carapace_exe: &std::path::Path, run_as: Option<RunAs>) -> Isolation {
        let landlock = probe();
        let launcher = probe_launcher(carapace_exe, run_as);
        Isolation {
            landlock,
            sockets: launcher.sockets,
            observed: launcher.observed,
        }
    }

    /// [`Isolation::probe_as`] with the default plugin identity when root.
    pub fn probe(carapace_exe: &std::path::Path) -> Isolation {
        let run_as = nix::unistd::geteuid().is_root().then_some(RunAs {
            uid: crate::plugins::identity::DEFAULT_UID_BASE,
            gid: crate::plugins::identity::DEFAULT_UID_BASE,
        });
        Isolation::probe_as(carapace_exe, run_as)
    }

    /// Every protection missing for a handler without network.
    pub fn gaps(&self) -> Vec<String> {
        let probe = LauncherProbe {
            sockets: self.sockets.clone(),
            observed: self.observed.clone(),
        };
        let uid = match &self.observed {
            Ok(seen) => seen.uid,
            Err(_) => nix::unistd::geteuid().as_raw(),
        };
        enforced(self.landlock, &probe, false, (uid, uid)).not_enforced
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.landlock, self.sockets)?;
        if let Ok(seen) = &self.observed {
            if seen.seccomp_filter() {
                f.write_str(", seccomp")?;
            }
            if seen.no_capabilities() {
                f.write_str(", no capabilities")?;
            }
            write!(f, ", uid {}", seen.uid)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> Observed {
        let mut seen = Observed {
            uid: 2_000_000_000,
            gid: 2_000_000_000,
            no_new_privs: true,
            ..Observed::default()
        };
        for set in [
            "bounding",
            "permitted",
            "effective",
            "inheritable",
            "ambient",
        ] {
            seen.capabilities.insert(set.into(), 0);
        }
        for kind in ["udp", "raw", "packet", "netlink"] {
            seen.sockets.insert(kind.into(), "EACCES".into());
        }
        seen
    }

    #[test]
    fn gaps_shrink_with_newer_abis() {
        assert_eq!(ConfinementSupport { abi: None }.to_string(), "unconfined");
        assert_eq!(ConfinementSupport { abi: Some(7) }.gaps().len(), 2);
        assert!(ConfinementSupport { abi: Some(10) }.gaps().is_empty());
        let hidden = Isolation {
            landlock: ConfinementSupport { abi: Some(7) },
            sockets: SocketHiding::Hidden,
            observed: Ok(sealed()),
        };
        assert_eq!(
            hidden.to_string(),
            "landlock ABI 7, sockets hidden, seccomp, no capabilities, uid 2000000000"
        );
        // The seccomp filter closes the UDP gap of Landlock below ABI 10.
        assert_eq!(hidden.gaps().len(), 1, "{:?}", hidden.gaps());
        let visible = Isolation {
            sockets: SocketHiding::Visible("EPERM".into()),
            ..hidden.clone()
        };
        assert!(visible
            .to_string()
            .starts_with("landlock ABI 7, sockets VISIBLE"));
        assert!(visible.gaps()[1].contains("EPERM"), "{:?}", visible.gaps());
        let unprobed = Isolation {
            observed: Err("no launcher".into()),
            ..hidden
        };
        let gaps = unprobed.gaps();
        assert!(gaps.iter().any(|g| g.starts_with("UDP")), "{gaps:?}");
        assert!(gaps.iter().any(|g| g.contains("no launcher")), "{gaps:?}");
    }

    #[test]
    fn the_report_says_what_each_handler_gets() {
        let probe = LauncherProbe {
            sockets: SocketHiding::Hidden,
            observed: Ok(sealed()),
        };
        let abi7 = ConfinementSupport { abi: Some(7) };
        let closed = enforced(abi7, &probe, false, (2_000_000_007, 2_000_000_007));
        assert!(closed.seccomp_socket_filter && closed.capabilities_dropped);
        assert_eq!(closed.socket_families, ["AF_UNIX"]);
        assert!(closed.udp.starts_with("refused by seccomp"));
        assert_eq!(
            closed.summary(),
            "confined (landlock ABI 7, sockets hidden, seccomp: AF_UNIX only, no capabilities, \
             uid 2000000007)"
        );
        let open = enforced(abi7, &probe, true, (5, 5));
        assert_eq!(open.socket_families, ["AF_UNIX", "AF_INET", "AF_INET6"]);
        assert!(open.udp.starts_with("allowed"));
        assert!(!open.landlock_rules.iter().any(|r| r.starts_with("TCP")));
        let mut leaky = sealed();
        leaky.sockets.insert("netlink".into(), "ok".into());
        leaky.capabilities.insert("bounding".into(), 41);
        let bare = LauncherProbe {
            sockets: SocketHiding::Hidden,
            observed: Ok(leaky),
        };
        let report = enforced(abi7, &bare, false, (0, 0));
        assert!(!report.seccomp_socket_filter && !report.capabilities_dropped);
        assert_eq!(report.udp, "NOT refused");
        assert!(report
            .not_enforced
            .iter()
            .any(|g| g.contains("runs as root")));
        assert!(report.summary().contains("NO seccomp, CAPABILITIES KEPT"));
        // Without Landlock the rest still holds, and the line says which is missing.
        let bare_kernel = enforced(ConfinementSupport { abi: None }, &probe, false, (9, 9));
        assert!(bare_kernel.seccomp_socket_filter && bare_kernel.landlock_rules.is_empty());
        assert!(bare_kernel
            .summary()
            .starts_with("UNCONFINED (no landlock, sockets hidden, seccomp: AF_UNIX only"));
    }
}
