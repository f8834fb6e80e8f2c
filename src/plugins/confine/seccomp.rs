//! The seccomp filter the launcher installs last, just before exec: which sockets a handler
//! may open, and the few system calls that would give back what the launcher took away.
//!
//! Landlock below ABI 10 cannot refuse UDP, and no Landlock ABI refuses raw, packet or netlink
//! sockets; this filter does, by address family, whatever the kernel. Refused (errno):
//! * `socket` of any family but `AF_UNIX` (plus `AF_INET`/`AF_INET6` with `network`), and of
//!   type `SOCK_RAW` or `SOCK_PACKET` in any family; `socketpair` of any family but `AF_UNIX`
//!   (`EACCES`, as Landlock refuses a connect);
//! * `io_uring_setup`/`_enter`/`_register`: io_uring opens sockets without `socket()`;
//! * `unshare`, `clone` with a `CLONE_NEW*` flag, and `setns`: a new user namespace hands a
//!   process a full set of capabilities there;
//! * `keyctl`, `add_key`, `request_key`: the kernel keyrings the core's session holds;
//! * `bpf`, `perf_event_open`, `ptrace`: kernel attack surface no handler needs
//!   (all `EPERM`);
//! * `clone3` answers `ENOSYS`: its flags are out of a filter's reach, and the C library then
//!   falls back to `clone`, which is checked.
//!
//! A system call of another architecture (i386 `int 0x80` from an x86-64 process) kills the
//! process; on x86-64 the x32 numbers of every call above are refused too.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::launch::ConfineError;

/// The type bits of `socket()`'s second argument (without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`).
const SOCK_TYPE_MASK: u64 = 0xf;
/// The obsolete `SOCK_PACKET` type (libc deprecates its constant).
const SOCK_PACKET: i32 = 10;
/// Namespace flags of `clone`/`unshare`; `CLONE_NEWTIME` is not in every libc.
const NAMESPACE_FLAGS: [u64; 8] = [
    nix::libc::CLONE_NEWNS as u64,
    nix::libc::CLONE_NEWUSER as u64,
    nix::libc::CLONE_NEWNET as u64,
    nix::libc::CLONE_NEWPID as u64,
    nix::libc::CLONE_NEWIPC as u64,
    nix::libc::CLONE_NEWUTS as u64,
    nix::libc::CLONE_NEWCGROUP as u64,
    0x80,
];

/// Installs the three filters on the calling thread (no-new-privs is set first).
pub(super) fn install(allow_network: bool) -> Result<(), ConfineError> {
    for program in programs(allow_network)? {
        seccompiler::apply_filter(&program).map_err(|e| ConfineError::Seccomp(e.to_string()))?;
    }
    Ok(())
}

/// The compiled filters: sockets (`EACCES`), the rest (`EPERM`), `clone3` (`ENOSYS`).
pub(super) fn programs(allow_network: bool) -> Result<Vec<BpfProgram>, ConfineError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| ConfineError::Seccomp(e.to_string()))?;
    let deny = |rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32| {
        SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .and_then(BpfProgram::try_from)
        .map_err(|e| ConfineError::Seccomp(e.to_string()))
    };
    Ok(vec![
        deny(with_x32(socket_rules(allow_network)?), nix::libc::EACCES)?,
        deny(with_x32(other_rules()?), nix::libc::EPERM)?,
        deny(
            with_x32(BTreeMap::from([(nix::libc::SYS_clone3, Vec::new())])),
            nix::libc::ENOSYS,
        )?,
    ])
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, ConfineError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(|e| ConfineError::Seccomp(e.to_string()))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, ConfineError> {
    SeccompRule::new(conditions).map_err(|e| ConfineError::Seccomp(e.to_string()))
}

/// `socket` and `socketpair`: a rule matches what is refused.
fn socket_rules(allow_network: bool) -> Result<BTreeMap<i64, Vec<SeccompRule>>, ConfineError> {
    let mut families = vec![nix::libc::AF_UNIX as u64];
    if allow_network {
        families.extend([nix::libc::AF_INET as u64, nix::libc::AF_INET6 as u64]);
    }
    let other_family = families
        .iter()
        .map(|family| condition(0, SeccompCmpOp::Ne, *family))
        .collect::<Result<Vec<_>, _>>()?;
    let type_is = |kind: i32| {
        rule(vec![condition(
            1,
            SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK),
            kind as u64,
        )?])
    };
    let socket = vec![
        rule(other_family)?,
        type_is(nix::libc::SOCK_RAW)?,
        type_is(SOCK_PACKET)?,
    ];
    let pair = vec![rule(vec![condition(
        0,
        SeccompCmpOp::Ne,
        nix::libc::AF_UNIX as u64,
    )?])?];
    Ok(BTreeMap::from([
        (nix::libc::SYS_socket, socket),
        (nix::libc::SYS_socketpair, pair),
    ]))
}

/// Namespaces, io_uring, keyrings, bpf, perf and ptrace.
fn other_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, ConfineError> {
    let namespace_flag = || {
        NAMESPACE_FLAGS
            .iter()
            .map(|flag| rule(vec![condition(0, SeccompCmpOp::MaskedEq(*flag), *flag)?]))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut rules = BTreeMap::from([
        (nix::libc::SYS_unshare, namespace_flag()?),
        (nix::libc::SYS_clone, namespace_flag()?),
    ]);
    for always in [
        nix::libc::SYS_setns,
        nix::libc::SYS_io_uring_setup,
        nix::libc::SYS_io_uring_enter,
        nix::libc::SYS_io_uring_register,
        nix::libc::SYS_keyctl,
        nix::libc::SYS_add_key,
        nix::libc::SYS_request_key,
        nix::libc::SYS_bpf,
        nix::libc::SYS_perf_event_open,
        nix::libc::SYS_ptrace,
    ] {
        rules.insert(always, Vec::new());
    }
    Ok(rules)
}

/// On x86-64 the same rules again for the x32 numbers (the number with bit 30 set; x32's own
/// `ptrace` is 521), which arrive under the x86-64 architecture.
#[cfg(target_arch = "x86_64")]
fn with_x32(mut rules: BTreeMap<i64, Vec<SeccompRule>>) -> BTreeMap<i64, Vec<SeccompRule>> {
    const X32_BIT: i64 = 0x4000_0000;
    const X32_PTRACE: i64 = 521;
    let native: Vec<(i64, Vec<SeccompRule>)> = rules.iter().map(|(n, r)| (*n, r.clone())).collect();
    for (number, chain) in native {
        let x32 = if number == nix::libc::SYS_ptrace {
            X32_PTRACE
        } else {
            number
        };
        rules.insert(x32 | X32_BIT, chain);
    }
    rules
}

#[cfg(not(target_arch = "x86_64"))]
fn with_x32(rules: BTreeMap<i64, Vec<SeccompRule>>) -> BTreeMap<i64, Vec<SeccompRule>> {
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile_for_this_architecture() {
        for network in [false, true] {
            let programs = programs(network).expect("filters");
            assert_eq!(programs.len(), 3);
            assert!(programs.iter().all(|p| !p.is_empty()));
        }
    }
}
