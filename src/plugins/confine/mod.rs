//! Landlock confinement of plugin handlers: what a handler may touch, and the launcher that enforces it.
//!
//! The core never confines itself. It runs `carapace __confine <spec-json> -- <handler> <args>`;
//! that launcher hides `$CARAPACE_HOME/run` in a mount namespace of its own ([`namespace`]),
//! restricts itself with Landlock (which also sets no-new-privs), then execs the handler, and
//! both survive the exec. A spec holds paths only, never a secret ([`spec`]). This module must
//! never grant anything of `$CARAPACE_HOME` beyond the plugin's own folder, data dir and
//! credentials dir, nor the user's home directory or anything above it.

use std::fmt;

use landlock::{
    AccessFs, AccessNet, CompatLevel, Compatible, RestrictSelf, RestrictSelfAttr, Ruleset,
    RulesetAttr, Scope,
};
use serde::Serialize;

mod launch;
mod namespace;
mod spec;

pub use launch::{
    exec_confined, launcher_command, restrict_self, wrapper, ConfineError, Enforcement,
};
pub use namespace::{probe_namespaces, SocketHiding};
pub use spec::{spec_for, ConfineSpec, SpecRequest};

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

/// Landlock and socket hiding together, as `carapace status` shows a confined plugin:
/// `landlock ABI 7, sockets hidden`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Isolation {
    /// What Landlock gives.
    pub landlock: ConfinementSupport,
    /// Whether the core's sockets are hidden from handlers.
    pub sockets: SocketHiding,
}

impl Isolation {
    /// Probes both; `carapace_exe` is the launcher (normally `std::env::current_exe()`).
    pub fn probe(carapace_exe: &std::path::Path) -> Isolation {
        let landlock = probe();
        let sockets = if landlock.is_confined() {
            probe_namespaces(carapace_exe)
        } else {
            SocketHiding::Visible("handlers are not confined".into())
        };
        Isolation { landlock, sockets }
    }

    /// Every protection missing: Landlock's gaps, then the sockets' (when visible).
    pub fn gaps(&self) -> Vec<String> {
        let mut gaps: Vec<String> = self
            .landlock
            .gaps()
            .iter()
            .map(|g| (*g).to_owned())
            .collect();
        gaps.extend(self.sockets.gap());
        gaps
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.landlock, self.sockets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_shrink_with_newer_abis() {
        assert_eq!(ConfinementSupport { abi: None }.to_string(), "unconfined");
        assert_eq!(ConfinementSupport { abi: Some(7) }.gaps().len(), 2);
        assert!(ConfinementSupport { abi: Some(10) }.gaps().is_empty());
        let hidden = Isolation {
            landlock: ConfinementSupport { abi: Some(7) },
            sockets: SocketHiding::Hidden,
        };
        assert_eq!(hidden.to_string(), "landlock ABI 7, sockets hidden");
        assert_eq!(hidden.gaps().len(), 2);
        let visible = Isolation {
            sockets: SocketHiding::Visible("EPERM".into()),
            ..hidden
        };
        assert_eq!(visible.to_string(), "landlock ABI 7, sockets VISIBLE");
        assert!(visible.gaps()[2].contains("EPERM"), "{:?}", visible.gaps());
    }
}
