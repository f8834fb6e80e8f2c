//! Hiding `$CARAPACE_HOME/run` and the places of service sockets ([`super::sockets`]) from a
//! handler with a mount namespace of its own.
//!
//! Landlock below ABI 9 does not restrict connecting to pathname unix sockets, and a handler
//! of a non-root core runs as the core's user: it could reach `run/control.sock` (approve its
//! own high-risk calls, stop the core), `run/events.sock` and every session's `ipc.sock`, and
//! the user's session bus, agents and container engines. So
//! the launcher, before Landlock (a Landlock domain may not mount), enters a private mount
//! namespace (a user namespace too when not root), covers each hidden directory with an empty
//! read-only tmpfs and bind-mounts back what the handler is granted beneath it: its
//! credentials copy read-only; for a handler of its own uid also its plugin folder
//! (read-only, executable) and data dir (writable), never setuid nor devices, beneath the
//! directories that uid could not walk through. A single socket beside what a handler needs
//! (`/run/docker.sock`) is covered by `/dev/null`. A handler without `network` also gets a
//! network namespace of its own (no abstract unix socket of the host is in it). The core's
//! own view never changes. A handler
//! cannot undo this: it holds no capability, Landlock refuses it mount, umount and
//! pivot_root, the seccomp filter refuses it new namespaces, and the ptrace rule refuses it
//! `/proc/<outside pid>/root`.

use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use serde::Serialize;

use super::spec::ConfineSpec;

/// The tmpfs laid over a hidden directory: tiny, it only ever holds mount points. Searchable
/// (not listable) by others: a handler of its own uid walks through it to what is bound back.
const TMPFS_OPTIONS: &str = "size=16k,nr_inodes=64,mode=0711";
/// What the stderr line of a launcher that could not hide starts with.
pub(super) const VISIBLE_LINE: &str = "CARAPACE-CONFINE: sockets VISIBLE: ";

/// Whether the core's sockets are hidden from handlers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum SocketHiding {
    /// Under an empty tmpfs in the handler's own mount namespace.
    Hidden,
    /// Reachable, and why (e.g. user namespaces disabled).
    Visible(String),
}

impl SocketHiding {
    /// Whether the sockets are hidden.
    pub fn is_hidden(&self) -> bool {
        matches!(self, SocketHiding::Hidden)
    }

    /// The protection missing, for `status` / `doctor` (none when hidden).
    pub fn gap(&self) -> Option<String> {
        match self {
            SocketHiding::Hidden => None,
            SocketHiding::Visible(reason) => Some(format!(
                "the core's sockets (run/control.sock, session sockets) are reachable from \
                 handlers: no mount namespace ({reason})"
            )),
        }
    }
}

impl fmt::Display for SocketHiding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SocketHiding::Hidden => "sockets hidden",
            SocketHiding::Visible(_) => "sockets VISIBLE",
        })
    }
}

/// How a path beneath a hidden directory is bound back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Read-only, not executable (credentials).
    Read,
    /// Read-only, executable (the plugin folder).
    Exec,
    /// Writable (the data dir).
    Write,
}

impl Kind {
    /// The flags of the bind mount: never setuid nor devices; read-only unless `Write`.
    fn flags(self) -> MsFlags {
        match self {
            Kind::Read => MsFlags::MS_RDONLY | locked_down(),
            Kind::Exec => MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Kind::Write => MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        }
    }
}

/// In the launcher (single-threaded, before Landlock): hides the spec's `hide` and binds its
/// `rebind*` back. On any failure the namespace is left as the core's view and the reason is
/// returned.
pub(super) fn hide(spec: &ConfineSpec) -> SocketHiding {
    let hide = &spec.hide;
    let rebind: Vec<(&PathBuf, Kind)> = spec
        .rebind
        .iter()
        .map(|p| (p, Kind::Read))
        .chain(spec.rebind_exec.iter().map(|p| (p, Kind::Exec)))
        .chain(spec.rebind_write.iter().map(|p| (p, Kind::Write)))
        .collect();
    // Nested entries are covered by their ancestor; absent ones hold nothing.
    let outermost = |h: &&PathBuf| !hide.iter().any(|o| o != *h && h.starts_with(o));
    let files: Vec<&PathBuf> = hide
        .iter()
        .filter(|h| h.exists() && !h.is_dir())
        .filter(outermost)
        .collect();
    let hide: Vec<&PathBuf> = hide
        .iter()
        .filter(|h| h.is_dir())
        .filter(outermost)
        .collect();
    if hide.is_empty() && files.is_empty() {
        return SocketHiding::Hidden;
    }
    let cwd = std::env::current_dir().ok();
    if let Err(reason) = enter_namespace() {
        return SocketHiding::Visible(reason);
    }
    if !spec.allow_network {
        // Abstract unix sockets have no path to hide: a network namespace holds none of the
        // host's. Best effort: Landlock's scoping (ABI 6) refuses them too.
        if let Err(e) = unshare(CloneFlags::CLONE_NEWNET) {
            eprintln!("CARAPACE-CONFINE: no network namespace of its own: {e}");
        }
    }
    // Opened in the new namespace (a bind needs a source mount of it) before anything is
    // covered; an absent one is not granted anyway.
    let sources: Vec<(PathBuf, File, Kind)> = rebind
        .iter()
        .filter(|(r, _)| hide.iter().any(|h| r.starts_with(h) && r != h))
        .filter_map(|(r, kind)| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_PATH)
                .open(r)
                .ok()
                .map(|f| ((*r).clone(), f, *kind))
        })
        .collect();
    let mut covered: Vec<&Path> = Vec::new();
    // The mount points' modes as written, whatever the core's umask.
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let result =
        cover(&hide, &sources, &mut covered).and_then(|()| cover_files(&files, &mut covered));
    nix::sys::stat::umask(umask);
    if let Err(reason) = result {
        for dir in covered.iter().rev() {
            let _ = umount2(*dir, MntFlags::MNT_DETACH);
        }
        return SocketHiding::Visible(reason);
    }
    // A working directory inside a hidden tree would still reach it: resolve it again.
    if let Some(cwd) = cwd.filter(|c| hide.iter().any(|h| c.starts_with(h))) {
        if std::env::set_current_dir(&cwd).is_err() {
            let _ = std::env::set_current_dir("/");
        }
    }
    SocketHiding::Hidden
}

/// A private mount namespace: alone as root, else inside a user namespace mapping only us.
fn enter_namespace() -> Result<(), String> {
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    let mount_only = if uid.is_root() {
        unshare(CloneFlags::CLONE_NEWNS).err()
    } else {
        Some(Errno::EPERM)
    };
    if let Some(first) = mount_only {
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|e| {
            if uid.is_root() {
                format!("cannot create a mount namespace: {first}; nor a user namespace: {e}")
            } else {
                format!("cannot create a user namespace (are unprivileged user namespaces disabled?): {e}")
            }
        })?;
        let write = |file: &str, text: String| {
            std::fs::write(format!("/proc/self/{file}"), text)
                .map_err(|e| format!("cannot write /proc/self/{file}: {e}"))
        };
        if Path::new("/proc/self/setgroups").exists() {
            write("setgroups", "deny".into())?;
        }
        write("uid_map", format!("{uid} {uid} 1\n"))?;
        write("gid_map", format!("{gid} {gid} 1\n"))?;
    }
    // Nothing mounted here may propagate back to the core's namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make the mount tree private: {e}"))
}

fn locked_down() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// Mounts the tmpfs over each hidden directory, binds the sources back, then makes it all
/// read-only. `covered` collects what was mounted, to undo on failure.
fn cover<'a>(
    hide: &[&'a PathBuf],
    sources: &[(PathBuf, File, Kind)],
    covered: &mut Vec<&'a Path>,
) -> Result<(), String> {
    let read_only = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | locked_down();
    for dir in hide {
        mount(
            Some("tmpfs"),
            dir.as_path(),
            Some("tmpfs"),
            locked_down(),
            Some(TMPFS_OPTIONS),
        )
        .map_err(|e| format!("cannot mount a tmpfs over {}: {e}", dir.display()))?;
        covered.push(dir.as_path());
    }
    for (target, source, kind) in sources {
        let is_dir = source.metadata().map(|m| m.is_dir()).unwrap_or(false);
        make_mount_point(target, is_dir)
            .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        let from = PathBuf::from(format!("/proc/self/fd/{}", source.as_raw_fd()));
        mount(
            Some(&from),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("cannot bind {} back: {e}", target.display()))?;
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | kind.flags() | kept_flags(source);
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
            .map_err(|e| format!("cannot restrict {}: {e}", target.display()))?;
    }
    for dir in hide {
        mount(
            None::<&str>,
            dir.as_path(),
            None::<&str>,
            read_only,
            None::<&str>,
        )
        .map_err(|e| {
            format!(
                "cannot make the tmpfs over {} read-only: {e}",
                dir.display()
            )
        })?;
    }
    // What the handler will see: nothing but the way to what was bound back.
    for dir in hide {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot check {}: {e}", dir.display()))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if !sources
                .iter()
                .any(|(target, _, _)| target.starts_with(&path))
            {
                return Err(format!("{} is still visible", path.display()));
            }
        }
    }
    Ok(())
}

/// Covers each single socket (one beside what a handler needs, as in `/run`) with
/// `/dev/null`, read-only and without devices: a connect finds no socket, an open no device.
fn cover_files<'a>(files: &[&'a PathBuf], covered: &mut Vec<&'a Path>) -> Result<(), String> {
    if files.is_empty() {
        return Ok(());
    }
    let null = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_PATH)
        .open("/dev/null")
        .map_err(|e| format!("cannot open /dev/null: {e}"))?;
    let from = PathBuf::from(format!("/proc/self/fd/{}", null.as_raw_fd()));
    for file in files {
        mount(
            Some(&from),
            file.as_path(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("cannot cover {}: {e}", file.display()))?;
        covered.push(file.as_path());
        let flags = MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | locked_down()
            | kept_flags(&null);
        mount(
            None::<&str>,
            file.as_path(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| format!("cannot restrict the cover of {}: {e}", file.display()))?;
    }
    Ok(())
}

/// The restrictions of the source's own mount, which a bind must keep (a mount made in a
/// less privileged namespace locks them).
fn kept_flags(source: &File) -> MsFlags {
    use nix::sys::statvfs::{fstatvfs, FsFlags};
    let Ok(stat) = fstatvfs(source) else {
        return MsFlags::empty();
    };
    let pairs = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    pairs
        .iter()
        .filter(|(st, _)| stat.flags().contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms)
}

/// Creates a mount point in the tmpfs; its parents are searchable so that a handler of its
/// own uid can walk to what is bound there.
fn make_mount_point(target: &Path, is_dir: bool) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(parent)?;
    }
    if is_dir {
        std::fs::DirBuilder::new().mode(0o711).create(target)
    } else {
        File::create(target).map(drop)
    }
}
