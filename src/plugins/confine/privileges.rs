//! Dropping privileges in the launcher: the handler's own uid/gid (when the core is root) and
//! no capabilities at all (bounding, permitted, effective, inheritable and ambient sets empty).
//!
//! Runs after the mount namespace is set up (which needs them) and before Landlock. Fails
//! closed: a handler that would keep a capability, or the core's uid, is never started. The
//! one exception is the bounding set of a non-root launcher outside any user namespace, which
//! it has no right to change; that is reported, and nothing in it can be gained back (a
//! non-root process with no-new-privs holds no capability and can get none).

use caps::CapSet;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use super::launch::ConfineError;
use super::spec::RunAs;

/// What remains after dropping: for the launcher's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dropped {
    /// Whether the bounding set is empty (see the module note).
    pub bounding_cleared: bool,
}

/// Becomes `run_as` (if any) and clears every capability set.
pub(super) fn drop_all(run_as: Option<RunAs>) -> Result<Dropped, ConfineError> {
    let fail =
        |step: &str, e: &dyn std::fmt::Display| ConfineError::Privileges(format!("{step}: {e}"));
    // The bounding set first: dropping from it needs CAP_SETPCAP, gone after the uid change.
    let bounding_cleared = match caps::clear(None, CapSet::Bounding) {
        Ok(()) => true,
        Err(_) if run_as.is_none() && !nix::unistd::geteuid().is_root() => false,
        Err(e) => return Err(fail("cannot clear the capability bounding set", &e)),
    };
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("cannot clear the ambient set", &e))?;
    if let Some(RunAs { uid, gid }) = run_as {
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        setgroups(&[]).map_err(|e| fail("cannot clear the supplementary groups", &e))?;
        setresgid(gid, gid, gid).map_err(|e| fail("cannot set the group id", &e))?;
        setresuid(uid, uid, uid).map_err(|e| fail("cannot set the user id", &e))?;
        if nix::unistd::getuid() != uid || nix::unistd::geteuid() != uid {
            return Err(ConfineError::Privileges(
                "the user id did not change".into(),
            ));
        }
    }
    // A non-root uid (also inside the launcher's user namespace) loses its effective and
    // permitted capabilities at exec: no-new-privs makes file capabilities count for nothing.
    // So where `capset` is itself filtered (systemd's `~@privileged`), that is enough; the
    // core's probe still reads what the handler holds after exec.
    let exec_clears = !nix::unistd::geteuid().is_root();
    for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
        match caps::clear(None, set) {
            Err(_) if exec_clears => return Ok(Dropped { bounding_cleared }),
            other => other.map_err(|e| fail("cannot clear a capability set", &e))?,
        }
    }
    for set in [
        CapSet::Effective,
        CapSet::Permitted,
        CapSet::Inheritable,
        CapSet::Ambient,
    ] {
        let left = caps::read(None, set).map_err(|e| fail("cannot read the capabilities", &e))?;
        if !left.is_empty() {
            return Err(ConfineError::Privileges(format!(
                "{} capabilities are left in the {set:?} set",
                left.len()
            )));
        }
    }
    Ok(Dropped { bounding_cleared })
}
