//! An agent root filesystem from local files only: the agent program, the
//! `ipc` client, `bash`, a static busybox for the few tools a shell needs, the
//! shared libraries each program needs (as `ldd` lists them), and a non-root
//! user. `carapace image build` imports it as an image; the demo runs it as a
//! `--rootfs`. Nothing is downloaded, and nothing of the host but these files
//! goes in (no `/etc` beyond `passwd` and `group`, no credentials, no home).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::ContainerRuntime;

/// Where programs go inside the image.
pub const BIN_DIR: &str = "usr/local/bin";
/// The busybox applets linked into `/bin` (what Claude Code's shell setup and
/// a scripted agent use).
const APPLETS: &[&str] = &[
    "sh", "env", "id", "cat", "ls", "grep", "tr", "sed", "wc", "touch", "cp", "mkdir", "rm",
    "head", "tail", "sleep", "echo", "true", "false", "uname", "dirname", "basename", "find",
    "sort",
];
/// Directories every image has (mount points and the agent's places).
const DIRS: &[&str] = &[
    "bin",
    "etc/claude-code",
    "home/agent",
    "proc",
    "sys",
    "dev",
    "run/carapace",
    "tmp",
    "workspace",
    BIN_DIR,
];

/// Why a root filesystem could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A program to put in is missing.
    #[error("{what} not found at {path}")]
    Missing {
        /// What it is.
        what: &'static str,
        /// Where it was looked for.
        path: String,
    },
    /// `ldd` failed on a program.
    #[error("cannot list the libraries of {program}: {reason}")]
    Libraries {
        /// The program.
        program: String,
        /// What failed.
        reason: String,
    },
    /// The engine cannot import, or the import failed.
    #[error("importing the image failed: {0}")]
    Import(String),
    /// Writing the tree failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// What goes into the image.
#[derive(Debug, Clone)]
pub struct RootfsPlan {
    /// The agent program (a binary or a script), installed under its own name.
    pub agent: PathBuf,
    /// The `ipc` client, installed as `ipc`.
    pub ipc: PathBuf,
    /// `bash`, when the agent needs it (Claude Code does).
    pub bash: Option<PathBuf>,
    /// A static busybox for `sh` and the small tools.
    pub busybox: Option<PathBuf>,
    /// The agent's uid and gid.
    pub user: (u32, u32),
}

impl RootfsPlan {
    /// A plan with this host's `bash` and busybox where they exist.
    pub fn from_host(agent: PathBuf, ipc: PathBuf, user: (u32, u32)) -> RootfsPlan {
        let first =
            |candidates: &[&str]| candidates.iter().map(PathBuf::from).find(|p| p.is_file());
        RootfsPlan {
            agent,
            ipc,
            bash: first(&["/bin/bash", "/usr/bin/bash"]),
            busybox: first(&["/bin/busybox", "/usr/bin/busybox"]),
            user,
        }
    }
}

/// Writes the root filesystem of `plan` into `root` (an empty directory).
pub fn assemble(root: &Path, plan: &RootfsPlan) -> Result<(), RootfsError> {
    for dir in DIRS {
        create_dir(&root.join(dir))?;
    }
    set_mode(&root.join("tmp"), 0o1777)?;
    // The HOME tmpfs takes this directory's mode: the agent's alone.
    set_mode(&root.join("home/agent"), 0o700)?;
    let agent_name = plan
        .agent
        .file_name()
        .ok_or_else(|| missing("the agent program", &plan.agent))?;
    install_program(root, &plan.agent, &root.join(BIN_DIR).join(agent_name))?;
    install_program(root, &plan.ipc, &root.join(BIN_DIR).join("ipc"))?;
    if let Some(bash) = &plan.bash {
        install_program(root, bash, &root.join("bin/bash"))?;
    }
    if let Some(busybox) = &plan.busybox {
        install_program(root, busybox, &root.join("bin/busybox"))?;
        for applet in APPLETS {
            let link = root.join("bin").join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", &link).map_err(io(&link))?;
            }
        }
    }
    let (uid, gid) = plan.user;
    write(
        &root.join("etc/passwd"),
        &format!("root:x:0:0::/root:/bin/sh\nagent:x:{uid}:{gid}::/home/agent:/bin/bash\n"),
    )?;
    write(
        &root.join("etc/group"),
        &format!("root:x:0:\nagent:x:{gid}:\n"),
    )?;
    Ok(())
}

/// Imports `root` as image `tag` with `runtime`'s engine (a tar stream of the
/// tree, owners kept numeric); returns the image ID the engine reports.
pub fn import(
    runtime: &dyn ContainerRuntime,
    root: &Path,
    tag: &str,
    user: (u32, u32),
) -> Result<String, RootfsError> {
    let args = runtime
        .import_args(tag, user, "/workspace")
        .ok_or_else(|| {
            RootfsError::Import(format!(
                "{:?} cannot import a root filesystem",
                runtime.engine()
            ))
        })?;
    let mut tar = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(root)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| RootfsError::Import(format!("tar: {e}")))?;
    let stream = tar
        .stdout
        .take()
        .ok_or_else(|| RootfsError::Import("tar has no stdout".into()))?;
    let imported = Command::new(runtime.program())
        .args(&args)
        .stdin(stream)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| RootfsError::Import(format!("{}: {e}", runtime.program())));
    let tar_status = tar
        .wait()
        .map_err(|e| RootfsError::Import(format!("tar: {e}")))?;
    let imported = imported?;
    if !tar_status.success() {
        return Err(RootfsError::Import(format!("tar failed ({tar_status})")));
    }
    if !imported.status.success() {
        return Err(RootfsError::Import(
            String::from_utf8_lossy(&imported.stderr).trim().to_owned(),
        ));
    }
    let id = String::from_utf8_lossy(&imported.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("sha256:")
        .to_owned();
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RootfsError::Import(format!(
            "the engine printed no image ID: {}",
            String::from_utf8_lossy(&imported.stdout).trim()
        )));
    }
    Ok(id)
}

/// The first `name` among the directories of `$PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Copies `program` to `target` (a hard link when it can) and the libraries it needs.
fn install_program(root: &Path, program: &Path, target: &Path) -> Result<(), RootfsError> {
    if !program.is_file() {
        return Err(missing("a program", program));
    }
    link_or_copy(program, target)?;
    for library in libraries_of(program)? {
        let inside = root.join(library.strip_prefix("/").unwrap_or(&library));
        if !inside.exists() {
            if let Some(parent) = inside.parent() {
                create_dir(parent)?;
            }
            let real = std::fs::canonicalize(&library).map_err(io(&library))?;
            link_or_copy(&real, &inside)?;
        }
    }
    Ok(())
}

/// The absolute paths `ldd` lists for `program` (none for a static one or a script).
pub fn libraries_of(program: &Path) -> Result<Vec<PathBuf>, RootfsError> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| RootfsError::Libraries {
            program: program.display().to_string(),
            reason: format!("ldd: {e}"),
        })?;
    // ldd exits 1 for static programs and scripts ("not a dynamic executable").
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            }?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<(), RootfsError> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map_err(io(to))?;
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), RootfsError> {
    std::fs::create_dir_all(dir).map_err(io(dir))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), RootfsError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

fn write(path: &Path, text: &str) -> Result<(), RootfsError> {
    std::fs::write(path, text).map_err(io(path))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RootfsError + '_ {
    move |source| RootfsError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn missing(what: &'static str, path: &Path) -> RootfsError {
    RootfsError::Missing {
        what,
        path: path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rootfs_holds_the_programs_their_libraries_and_the_agent_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agent = dir.path().join("my-agent");
        std::fs::write(&agent, "#!/bin/sh\necho hi\n").expect("agent");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("root");
        let bash = PathBuf::from("/bin/bash");
        let plan = RootfsPlan {
            agent,
            // Any dynamic program stands in for ipc here: its libraries must follow it.
            ipc: bash.clone(),
            bash: Some(bash.clone()),
            busybox: None,
            user: (100_000, 100_000),
        };
        assemble(&root, &plan).expect("assembled");
        assert!(root.join("usr/local/bin/my-agent").is_file());
        assert!(root.join("usr/local/bin/ipc").is_file());
        for library in libraries_of(&bash).expect("ldd") {
            let inside = root.join(library.strip_prefix("/").expect("absolute"));
            assert!(inside.exists(), "{} is missing", inside.display());
        }
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
        assert!(passwd.contains("agent:x:100000:100000::/home/agent:/bin/bash"));
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .expect("meta")
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!((mode("tmp"), mode("home/agent")), (0o1777, 0o700));
        // Nothing of the host's /etc beyond what was written.
        let etc: Vec<_> = std::fs::read_dir(root.join("etc"))
            .expect("etc")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut etc = etc;
        etc.sort();
        assert_eq!(etc, ["claude-code", "group", "passwd"]);
    }

    #[test]
    fn a_missing_program_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = RootfsPlan {
            agent: dir.path().join("absent-agent"),
            ipc: dir.path().join("absent-ipc"),
            bash: None,
            busybox: None,
            user: (100_000, 100_000),
        };
        let err = assemble(dir.path(), &plan).expect_err("refused");
        assert!(err.to_string().contains("absent-agent"), "{err}");
    }
}
