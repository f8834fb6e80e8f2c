//! Hiding `$CARAPACE_HOME/run` from a handler with a mount namespace of its own.
//!
//! Landlock below ABI 9 does not restrict connecting to pathname unix sockets, and a handler
//! runs as the core's user: it could reach `run/control.sock` (approve its own high-risk
//! calls, stop the core), `run/events.sock` and every session's `ipc.sock`. So the launcher,
//! before Landlock (a Landlock domain may not mount), enters a private mount namespace
//! (a user namespace too when not root), covers each hidden directory with an empty read-only
//! tmpfs and bind-mounts back, read-only, what the handler is granted beneath it (its systemd
//! credentials copy). The core's own view never changes. A handler cannot undo this: Landlock
//! refuses it mount, umount and pivot_root, and the ptrace rule refuses it
//! `/proc/<outside pid>/root`.

use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use serde::Serialize;

use super::spec::{ConfineSpec, DEVICES, ETC_READ, SYSTEM_EXEC};

/// The tmpfs laid over a hidden directory: tiny, it only ever holds mount points.
const TMPFS_OPTIONS: &str = "size=16k,nr_inodes=64,mode=0700";
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

/// In the launcher (single-threaded, before Landlock): hides `hide` and puts `rebind` back.
/// On any failure the namespace is left as the core's view and the reason is returned.
pub(super) fn hide(hide: &[PathBuf], rebind: &[PathBuf]) -> SocketHiding {
    // Nested entries are covered by their ancestor; absent ones hold nothing.
    let hide: Vec<&PathBuf> = hide
        .iter()
        .filter(|h| h.is_dir())
        .filter(|h| !hide.iter().any(|o| o != *h && h.starts_with(o)))
        .collect();
    if hide.is_empty() {
        return SocketHiding::Hidden;
    }
    let cwd = std::env::current_dir().ok();
    if let Err(reason) = enter_namespace() {
        return SocketHiding::Visible(reason);
    }
    // Opened in the new namespace (a bind needs a source mount of it) before anything is
    // covered; an absent one is not granted anyway.
    let sources: Vec<(PathBuf, File)> = rebind
        .iter()
        .filter(|r| hide.iter().any(|h| r.starts_with(h) && r != h))
        .filter_map(|r| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_PATH)
                .open(r)
                .ok()
                .map(|f| (r.clone(), f))
        })
        .collect();
    let mut covered: Vec<&Path> = Vec::new();
    let result = cover(&hide, &sources, &mut covered);
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
    sources: &[(PathBuf, File)],
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
    for (target, source) in sources {
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
        mount(None::<&str>, target, None::<&str>, read_only, None::<&str>)
            .map_err(|e| format!("cannot make {} read-only: {e}", target.display()))?;
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
            if !sources.iter().any(|(target, _)| target.starts_with(&path)) {
                return Err(format!("{} is still visible", path.display()));
            }
        }
    }
    Ok(())
}

fn make_mount_point(target: &Path, is_dir: bool) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    if is_dir {
        std::fs::DirBuilder::new().mode(0o700).create(target)
    } else {
        File::create(target).map(drop)
    }
}

/// Whether the launcher in `carapace_exe` can hide a directory here, found by running it once
/// on a scratch directory (the core itself never changes namespace). Costs one process.
pub fn probe_namespaces(carapace_exe: &Path) -> SocketHiding {
    let scratch = match tempfile::Builder::new()
        .prefix("carapace-nsprobe-")
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => return SocketHiding::Visible(format!("cannot make a scratch directory: {e}")),
    };
    let run = scratch.path().join("run");
    let keep = run.join("credentials").join("probe");
    if let Err(e) = std::fs::create_dir_all(&keep) {
        return SocketHiding::Visible(format!("cannot make a scratch directory: {e}"));
    }
    let exe = std::fs::canonicalize(carapace_exe).unwrap_or_else(|_| carapace_exe.to_path_buf());
    let mut read_exec: Vec<PathBuf> = SYSTEM_EXEC.iter().map(PathBuf::from).collect();
    read_exec.push(exe.clone());
    let spec = ConfineSpec {
        read_only: ETC_READ.iter().map(PathBuf::from).collect(),
        read_exec,
        devices: DEVICES.iter().map(PathBuf::from).collect(),
        hide: vec![run],
        rebind: vec![keep],
        ..ConfineSpec::default()
    };
    let output = Command::new(&exe)
        .arg("__confine")
        .arg(spec.to_arg())
        .arg("--")
        .arg(&exe)
        .arg("--version")
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => return SocketHiding::Visible(format!("cannot run the launcher: {e}")),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Some(reason) = stderr
        .lines()
        .find_map(|line| line.strip_prefix(VISIBLE_LINE))
    {
        return SocketHiding::Visible(reason.to_owned());
    }
    if !output.status.success() {
        return SocketHiding::Visible(format!(
            "the launcher failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    SocketHiding::Hidden
}
