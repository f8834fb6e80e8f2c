//! Letting the agent's gid, and no one else, reach a session's sockets.
//!
//! With rootful podman/docker the agent runs as `agent_uid:agent_gid`, so the
//! session directory (created 0700) and its sockets (bound 0600) must be
//! opened to that group: the directory becomes `root:<agent gid>` 0710 (search
//! only: the agent can connect to a socket it names, but cannot list, create,
//! unlink or replace anything in a host directory), each socket 0660. A daemon
//! that is not root runs rootless podman with `--userns keep-id`, where the
//! agent *is* the daemon's user: nothing changes then.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::unistd::{chown, Gid, Uid};

/// Mode of a session directory shared with the agent's group.
pub const SHARED_DIR_MODE: u32 = 0o710;
/// Mode of a session socket shared with the agent's group.
pub const SHARED_SOCKET_MODE: u32 = 0o660;

/// Gives group `agent_gid` search on `dir` and read-write on each of
/// `sockets` (paths inside `dir`); does nothing unless the process is root.
/// Returns whether anything was shared.
pub fn share_with_agent(dir: &Path, sockets: &[&Path], agent_gid: u32) -> std::io::Result<bool> {
    if !Uid::effective().is_root() {
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
