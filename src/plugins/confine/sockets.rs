//! Where the user's and the system's service sockets live: hidden from every handler.
//!
//! Rule: **a handler sees no place where service sockets live but its own grants.** Landlock
//! below ABI 9 does not refuse a connect to a pathname unix socket, and a handler of a
//! non-root core runs as the core's user (with its groups): through the session bus it could
//! ask the user's systemd for a transient unit outside every confinement, and through the
//! others use the ssh or gpg agent, the podman or docker API (root on the host), the secret
//! service or the X server. So the launcher covers each of these places with an empty
//! read-only tmpfs in the handler's own mount namespace ([`super::namespace`]), and binds
//! back only what the spec grants beneath it (a plugin living under `/tmp` keeps its folder,
//! data dir and credentials, nothing else of it):
//! * `/tmp` and `/var/tmp` whole, the handler's are private: X11 and ICE (`/tmp/.X11-unix`,
//!   `/tmp/.ICE-unix`), `ssh-agent`'s default `/tmp/ssh-*`, tmux, screen, PostgreSQL. A
//!   handler's `TMPDIR` is in its data dir, and Landlock never let it write here anyway;
//! * `/run/user` (every user's runtime dir: session bus, systemd, podman, gpg-agent,
//!   pipewire, keyring) and `$XDG_RUNTIME_DIR` wherever it is;
//! * the system's: `/run/dbus` (`/var/run` is a link to `/run`), `/run/podman`,
//!   `/run/docker`, `/run/containerd`, `/run/libvirt`, `/run/screen`, `/run/lxd`; the single
//!   sockets directly in `/run` (`docker.sock`, `snapd.socket`) are covered by `/dev/null`,
//!   since `/run` itself holds what a handler needs (`/run/current-system` on NixOS, a
//!   `resolv.conf` target);
//! * the directory of `$SSH_AUTH_SOCK` (the socket itself when that directory is `/` or a
//!   top-level one), and in the user's home `~/.ssh` (control-master sockets), `~/.gnupg`
//!   and `~/.docker` (Docker Desktop's socket).
//!
//! What remains: a socket the user put elsewhere (another directory of the home); Landlock
//! ABI 9 closes that for every path. Abstract unix sockets have no path: a handler without
//! `network` gets a network namespace of its own, which holds none; with `network`, Landlock's
//! scoping (ABI 6) refuses them.

use std::path::{Path, PathBuf};

/// Directories that hold service sockets, hidden when they exist.
const SOCKET_DIRS: &[&str] = &[
    "/tmp",
    "/var/tmp",
    "/run/user",
    "/run/dbus",
    "/var/run/dbus",
    "/run/podman",
    "/run/docker",
    "/run/containerd",
    "/run/libvirt",
    "/run/screen",
    "/run/lxd",
];

/// Single sockets in a directory that cannot be hidden whole.
const SOCKET_FILES: &[&str] = &[
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/snapd.socket",
    "/run/snapd-snap.socket",
];

/// Directories of the user's home that hold sockets.
const HOME_SOCKET_DIRS: &[&str] = &[".ssh", ".gnupg", ".docker"];

/// Every place of this host (and of the core's environment) where service sockets live, as
/// real paths, absent ones left out.
pub(super) fn service_socket_places() -> Vec<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let mut places: Vec<PathBuf> = SOCKET_DIRS
        .iter()
        .chain(SOCKET_FILES)
        .map(PathBuf::from)
        .collect();
    places.extend(env("XDG_RUNTIME_DIR"));
    if let Some(home) = env("HOME") {
        places.extend(HOME_SOCKET_DIRS.iter().map(|d| home.join(d)));
    }
    places.extend(env("SSH_AUTH_SOCK").map(|socket| agent_place(&socket)));
    let mut real: Vec<PathBuf> = places
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter(|p| p.parent().is_some())
        .collect();
    real.sort();
    real.dedup();
    real
}

/// The directory of an agent's socket, or the socket alone when that directory is `/` or a
/// top-level one (hiding `/run` whole would hide what handlers need).
fn agent_place(socket: &Path) -> PathBuf {
    match socket.parent() {
        Some(dir) if dir.components().count() > 2 => dir.to_path_buf(),
        _ => socket.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_socket_hides_its_directory_unless_that_is_too_wide() {
        let place = |s: &str| agent_place(Path::new(s));
        assert_eq!(place("/tmp/ssh-XYZ/agent.1"), PathBuf::from("/tmp/ssh-XYZ"));
        assert_eq!(
            place("/run/user/1000/gnupg/S.gpg-agent.ssh"),
            PathBuf::from("/run/user/1000/gnupg")
        );
        assert_eq!(place("/run/agent.sock"), PathBuf::from("/run/agent.sock"));
        assert_eq!(place("/agent.sock"), PathBuf::from("/agent.sock"));
    }

    #[test]
    fn tmp_is_always_among_the_places() {
        let places = service_socket_places();
        let tmp = std::fs::canonicalize("/tmp").expect("/tmp");
        assert!(places.contains(&tmp), "{places:?}");
        assert!(places.iter().all(|p| p.parent().is_some()));
    }
}
