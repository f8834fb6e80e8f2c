//! Letting the agent's gid, and no one else, reach a session's sockets.
//!
//! With rootful podman/docker the agent runs as `agent_uid:agent_gid`, so the
//! session directory (created 0700) and its sockets (bound 0600) must be
//! opened to that group: the directory becomes `root:<agent gid>` 0710 (search
//! only: the agent can connect to a socket it names, but cannot list, create,
//! unlink or replace anything in a host directory), each socket 0660. A daemon
//! that is not root but belongs to the agent's group (a system service whose
//! group is `agent_gid`, talking to a rootful engine through its API socket)
//! shares the same way: an owner may give its files to a group it is in. A
//! daemon in neither case runs rootless podman with `--userns keep-id`, where
//! the agent *is* the daemon's user: nothing changes then.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::unistd::{chown, Gid, Uid};

/// Mode of a session directory shared with the agent's group.
pub const SHARED_DIR_MODE: u32 = 0o710;
/// Mode of a session socket shared with the agent's group.
pub const SHARED_SOCKET_MODE: u32 = 0o660;

/// How this process can let the agent reach its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Root: files can be given to the agent's uid and gid.
    Root,
    /// A member of the agent's group: files can be given to that group.
    Group,
    /// Neither: the agent runs as this user (rootless, `keep-id`).
    SameUser,
}

impl Sharing {
    /// What this process can do for an agent of group `agent_gid`.
    pub fn detect(agent_gid: u32) -> Sharing {
        if Uid::effective().is_root() {
            return Sharing::Root;
        }
        let gid = Gid::from_raw(agent_gid);
        let member = Gid::effective() == gid
            || nix::unistd::getgroups().is_ok_and(|groups| groups.contains(&gid));
        if member {
            Sharing::Group
        } else {
            Sharing::SameUser
        }
    }
}

/// Gives group `agent_gid` search on `dir` and read-write on each of
/// `sockets` (paths inside `dir`); does nothing when the agent runs as this
/// user ([`Sharing::SameUser`]). Returns whether anything was shared.
pub fn share_with_agent(dir: &Path, sockets: &[&Path], agent_gid: u32) -> std::io::Result<bool> {
    if Sharing::detect(agent_gid) == Sharing::SameUser {
        return Ok(false);
    }
    let gid = Some(Gid::from_raw(agent_gid));
    for socket in sockets {
        chown(*socket, None, gid).map_err(std::io::Error::from)?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(SHARED_SOCKET_MODE))?;
    }
    chown(dir, None, gid).map_err(std::io::Error::from)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(SHARED_DIR_MODE))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// The agent gid the child below runs with.
    const AGENT_GID: u32 = 4242;
    const CHILD: &str = "CARAPACE_ACCESS_TEST_CHILD";

    /// Runs again as an unprivileged user whose group is the agent's (the
    /// shape of a system service talking to a rootful engine): it must share
    /// by group, and a process outside that group must not try.
    #[test]
    fn a_member_of_the_agent_group_shares_by_group() {
        if std::env::var_os(CHILD).is_some() {
            assert_eq!(Sharing::detect(AGENT_GID), Sharing::Group);
            assert_eq!(Sharing::detect(AGENT_GID + 1), Sharing::SameUser);
            let dir = tempfile::tempdir_in("/tmp").expect("tempdir");
            let session = dir.path().join("session");
            std::fs::create_dir(&session).expect("mkdir");
            let socket = session.join("ipc.sock");
            let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
            assert!(share_with_agent(&session, &[&socket], AGENT_GID).expect("shared"));
            for (path, mode) in [(&session, SHARED_DIR_MODE), (&socket, SHARED_SOCKET_MODE)] {
                let meta = std::fs::metadata(path).expect("meta");
                assert_eq!((meta.gid(), meta.mode() & 0o777), (AGENT_GID, mode));
            }
            assert!(!share_with_agent(&session, &[&socket], AGENT_GID + 1).expect("no-op"));
            return;
        }
        if !Uid::effective().is_root() {
            eprintln!("SKIPPED: needs root to run the child as another user");
            return;
        }
        let status = std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                &format!("--regid={AGENT_GID}"),
                "--clear-groups",
            ])
            .arg(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "runtime::access::tests::a_member_of_the_agent_group_shares_by_group",
            ])
            .env(CHILD, "1")
            .status()
            .expect("setpriv (util-linux) runs");
        assert!(status.success(), "the child's checks failed");
    }
}
