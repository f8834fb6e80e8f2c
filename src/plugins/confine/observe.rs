//! What a confined process finds about itself, measured from inside: its ids, capability
//! sets, no-new-privs, and which sockets it can open. `carapace __confine-check` prints it
//! as JSON when the core probes the launcher, so that `status` reports what this kernel
//! actually enforces rather than what was asked for.

use std::collections::BTreeMap;

use caps::CapSet;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
use serde::{Deserialize, Serialize};

/// One process's view of its own confinement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Supplementary groups held.
    pub groups: usize,
    /// Capabilities held in each set (`bounding`, `permitted`, `effective`, `inheritable`,
    /// `ambient`).
    pub capabilities: BTreeMap<String, usize>,
    /// Whether no-new-privs is set.
    pub no_new_privs: bool,
    /// Each socket kind tried (`unix`, `tcp`, `udp`, `udp6`, `raw`, `packet`, `netlink`):
    /// `ok` or the errno's name.
    pub sockets: BTreeMap<String, String>,
}

impl Observed {
    /// Whether every capability set is empty.
    pub fn no_capabilities(&self) -> bool {
        self.capabilities.len() == 5 && self.capabilities.values().all(|n| *n == 0)
    }

    /// Whether the seccomp socket filter answered: a netlink socket needs no privilege, so
    /// only the filter refuses it (with `EACCES`).
    pub fn seccomp_filter(&self) -> bool {
        self.sockets.get("netlink").map(String::as_str) == Some("EACCES")
    }

    /// Whether the socket kind `kind` was refused.
    pub fn refused(&self, kind: &str) -> bool {
        self.sockets.get(kind).is_some_and(|r| r != "ok")
    }
}

/// Measures the calling process.
pub fn observe() -> Observed {
    let sets = [
        ("bounding", CapSet::Bounding),
        ("permitted", CapSet::Permitted),
        ("effective", CapSet::Effective),
        ("inheritable", CapSet::Inheritable),
        ("ambient", CapSet::Ambient),
    ];
    let capabilities = sets
        .iter()
        .filter_map(|(name, set)| {
            let held = caps::read(None, *set).ok()?;
            Some(((*name).to_owned(), held.len()))
        })
        .collect();
    let tries: [(&str, AddressFamily, SockType, Option<SockProtocol>); 7] = [
        ("unix", AddressFamily::Unix, SockType::Stream, None),
        ("tcp", AddressFamily::Inet, SockType::Stream, None),
        ("udp", AddressFamily::Inet, SockType::Datagram, None),
        ("udp6", AddressFamily::Inet6, SockType::Datagram, None),
        (
            "raw",
            AddressFamily::Inet,
            SockType::Raw,
            Some(SockProtocol::Icmp),
        ),
        (
            "packet",
            AddressFamily::Packet,
            SockType::Raw,
            Some(SockProtocol::EthAll),
        ),
        (
            "netlink",
            AddressFamily::Netlink,
            SockType::Raw,
            Some(SockProtocol::NetlinkRoute),
        ),
    ];
    let sockets = tries
        .into_iter()
        .map(|(name, family, kind, protocol)| {
            let result = match socket(family, kind, SockFlag::SOCK_CLOEXEC, protocol) {
                Ok(fd) => {
                    drop(fd);
                    "ok".to_owned()
                }
                Err(errno) => format!("{errno:?}"),
            };
            (name.to_owned(), result)
        })
        .collect();
    Observed {
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        groups: nix::unistd::getgroups().map(|g| g.len()).unwrap_or(0),
        capabilities,
        no_new_privs: nix::sys::prctl::get_no_new_privs().unwrap_or(false),
        sockets,
    }
}
