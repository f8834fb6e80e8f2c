//! What a handler may access: the spec the core builds and the launcher enforces.
//!
//! This module must never grant anything of `$CARAPACE_HOME` beyond the plugin's own folder,
//! data dir and credentials dir, nor the user's home directory or anything above it; and it
//! always hides `$CARAPACE_HOME/run` (the core's sockets) and every place where the user's or
//! the system's service sockets live ([`super::sockets`]) from the handler, but its grants.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::launch::ConfineError;

/// System trees a handler may read and execute (absent ones are skipped).
pub(super) const SYSTEM_EXEC: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/nix/store",
];

/// The parts of `/etc` a handler needs: the dynamic loader, TLS roots, name resolution, users,
/// time zone. Not all of `/etc`: it may hold host keys or other secrets readable by this user.
pub(super) const ETC_READ: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ld.so.preload",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
    "/etc/static",
];

/// Devices a handler may open for reading and writing.
pub(super) const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// What one handler may access; passed to the launcher as one JSON argument (paths only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfineSpec {
    /// Readable trees (files and directory listings).
    pub read_only: Vec<PathBuf>,
    /// Readable and executable trees.
    pub read_exec: Vec<PathBuf>,
    /// Trees with every right: create, write, remove.
    pub read_write: Vec<PathBuf>,
    /// Device files opened for reading and writing.
    pub devices: Vec<PathBuf>,
    /// Whether TCP (and, where the kernel can, UDP) bind/connect stay allowed.
    pub allow_network: bool,
    /// Created (0700) by the launcher and exported as `TMPDIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmp_dir: Option<PathBuf>,
    /// Directories covered, in the handler's own mount namespace, by an empty read-only tmpfs
    /// (`$CARAPACE_HOME/run` and the places of service sockets: Landlock below ABI 9 cannot
    /// refuse a connect to a socket); a single socket (not a directory) is covered by
    /// `/dev/null`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hide: Vec<PathBuf>,
    /// Paths beneath a hidden directory bind-mounted back (read-only) at the same place: the
    /// handler's own credentials copy under `run/credentials/<plugin>/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebind: Vec<PathBuf>,
    /// Like `rebind`, read-only but executable (the plugin folder, an interpreter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebind_exec: Vec<PathBuf>,
    /// Like `rebind`, writable (the data dir).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebind_write: Vec<PathBuf>,
    /// The unprivileged identity the handler becomes (when the core runs as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
}

/// A handler's own uid and gid (no supplementary groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAs {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

impl ConfineSpec {
    /// The spec as the single argv word the launcher takes.
    pub fn to_arg(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Parses the launcher's argument.
    pub fn from_arg(arg: &str) -> Result<ConfineSpec, ConfineError> {
        serde_json::from_str(arg).map_err(|e| ConfineError::Spec(e.to_string()))
    }
}

/// What the core knows when it starts one handler.
#[derive(Debug, Clone, Copy)]
pub struct SpecRequest<'a> {
    /// The plugin folder (read + execute).
    pub plugin_folder: &'a Path,
    /// Its data dir (read-write; cwd, HOME and TMPDIR's parent).
    pub data_dir: &'a Path,
    /// Its own credentials dir, if it declares credentials (read-only).
    pub credentials_dir: Option<&'a Path>,
    /// The manifest's `network`.
    pub network: bool,
    /// The handler command as the manifest gives it (program first).
    pub command: &'a [String],
    /// The handler's `PATH`, used to find its program and `#!` interpreters.
    pub path: &'a OsStr,
    /// `$CARAPACE_HOME`, never granted beyond the three directories above.
    pub carapace_home: &'a Path,
    /// The identity the handler runs as, when not the core's own (the core is root).
    pub run_as: Option<RunAs>,
}

/// Builds the spec for one handler.
pub fn spec_for(request: &SpecRequest<'_>) -> ConfineSpec {
    let guard = Guard::new(request);
    let mut read_exec: Vec<PathBuf> = SYSTEM_EXEC.iter().map(PathBuf::from).collect();
    read_exec.push(request.plugin_folder.to_path_buf());
    if let Some(program) = request.command.first() {
        if let Some(real) = resolve_program(request.plugin_folder, program, request.path) {
            grant_executable(&real, 0, &guard, request.path, &mut read_exec);
        }
    }
    let mut read_only: Vec<PathBuf> = ETC_READ.iter().map(PathBuf::from).collect();
    read_only.extend(etc_language_dirs());
    read_only.extend(request.credentials_dir.map(Path::to_path_buf));
    dedup(&mut read_exec);
    let mut spec = ConfineSpec {
        read_only,
        read_exec,
        read_write: vec![request.data_dir.to_path_buf()],
        devices: DEVICES.iter().map(PathBuf::from).collect(),
        allow_network: request.network,
        tmp_dir: Some(request.data_dir.join("tmp")),
        hide: hidden_places(&guard.carapace_home),
        run_as: request.run_as,
        ..ConfineSpec::default()
    };
    finish(&mut spec);
    spec
}

/// `$CARAPACE_HOME/run` and the places of service sockets.
fn hidden_places(carapace_home: &Path) -> Vec<PathBuf> {
    let mut hide = vec![carapace_home.join("run")];
    hide.extend(super::sockets::service_socket_places());
    hide
}

/// Completes a spec's hiding: for a handler of another uid, what it cannot walk to is hidden
/// too; then every grant beneath a hidden directory is bound back.
pub(super) fn finish(spec: &mut ConfineSpec) {
    if let Some(run_as) = spec.run_as {
        hide_unsearchable(spec, run_as);
    }
    add_rebinds(spec);
}

/// For a handler of another uid: hides the topmost ancestor of each grant that this uid
/// cannot search (e.g. a 0700 `$CARAPACE_HOME` or `/root`), so that only the grants, bound
/// back beneath it, are reachable through it.
fn hide_unsearchable(spec: &mut ConfineSpec, run_as: RunAs) {
    let grants: Vec<PathBuf> = spec
        .grants()
        .filter(|(path, _)| path.exists())
        .map(|(path, _)| canonical(path))
        .collect();
    for grant in grants {
        let mut ancestors: Vec<&Path> = grant.ancestors().skip(1).collect();
        ancestors.reverse();
        let blocked = ancestors
            .into_iter()
            .find(|dir| !searchable_by(dir, run_as));
        if let Some(dir) = blocked {
            spec.hide.push(dir.to_path_buf());
        }
    }
    dedup(&mut spec.hide);
}

/// Whether `uid`/`gid` may search `dir` (the other bits: neither owns it).
fn searchable_by(dir: &Path, run_as: RunAs) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).is_ok_and(|m| {
        let mode = m.permissions().mode();
        if m.uid() == run_as.uid {
            mode & 0o100 != 0
        } else if m.gid() == run_as.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    })
}

/// Every grant beneath a hidden directory is bound back at its place, with its kind; one
/// beneath another bound-back grant is reached through it.
fn add_rebinds(spec: &mut ConfineSpec) {
    let mut found: Vec<(PathBuf, Grant)> = spec
        .grants()
        .map(|(path, kind)| (canonical(path), kind))
        .filter(|(path, _)| {
            spec.hide
                .iter()
                .any(|hidden| path.starts_with(hidden) && path != hidden)
        })
        .collect();
    // By path, the widest kind first, so that a duplicate keeps it.
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    found.dedup_by(|later, earlier| later.0.starts_with(&earlier.0));
    for (path, kind) in found {
        match kind {
            Grant::Read => spec.rebind.push(path),
            Grant::Exec => spec.rebind_exec.push(path),
            Grant::Write => spec.rebind_write.push(path),
        }
    }
}

/// How a grant is bound back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    Read,
    Exec,
    Write,
}

impl ConfineSpec {
    fn grants(&self) -> impl Iterator<Item = (&PathBuf, Grant)> {
        let read = self.read_only.iter().chain(&self.devices);
        read.map(|p| (p, Grant::Read))
            .chain(self.read_exec.iter().map(|p| (p, Grant::Exec)))
            .chain(self.read_write.iter().map(|p| (p, Grant::Write)))
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Distribution config some interpreters read at start (Debian's `/etc/python3.11/`, ...).
fn etc_language_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/etc") else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            ["python", "perl", "ruby", "node"]
                .iter()
                .any(|lang| name.starts_with(lang))
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// What a derived grant (a handler's or interpreter's directory) may never cover.
struct Guard {
    /// Directories that must not be granted, nor any directory above them.
    protected: Vec<PathBuf>,
    /// `$CARAPACE_HOME`, of which only the plugin folder may be granted here.
    carapace_home: PathBuf,
    plugin_folder: PathBuf,
    user_home: Option<PathBuf>,
}

impl Guard {
    fn new(request: &SpecRequest<'_>) -> Guard {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let user_home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| canonical(Path::new(&h)));
        let carapace_home = canonical(request.carapace_home);
        let mut protected = vec![carapace_home.clone()];
        protected.extend(user_home.clone());
        Guard {
            protected,
            carapace_home,
            plugin_folder: canonical(request.plugin_folder),
            user_home,
        }
    }

    fn allows(&self, dir: &Path) -> bool {
        if dir.parent().is_none() || self.protected.iter().any(|p| p.starts_with(dir)) {
            return false;
        }
        !dir.starts_with(&self.carapace_home) || dir.starts_with(&self.plugin_folder)
    }

    /// A single executable: anything but another part of `$CARAPACE_HOME`.
    fn allows_file(&self, file: &Path) -> bool {
        !file.starts_with(&self.carapace_home) || file.starts_with(&self.plugin_folder)
    }

    /// A prefix right under the user's home (`~/.cargo`, `~/.local`) often holds tokens.
    fn allows_prefix(&self, prefix: &Path) -> bool {
        let directly_in_home = self
            .user_home
            .as_deref()
            .is_some_and(|home| prefix.parent() == Some(home));
        !directly_in_home && self.allows(prefix)
    }
}

/// The program as the core will run it: from the plugin folder, else from PATH; its real path.
fn resolve_program(folder: &Path, program: &str, path: &OsStr) -> Option<PathBuf> {
    let in_folder = folder.join(program);
    let found = if program.contains('/') || in_folder.exists() {
        in_folder
    } else {
        search_path(OsStr::new(program), path)?
    };
    std::fs::canonicalize(found).ok()
}

fn search_path(program: &OsStr, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Grants an executable's installation (its prefix when it sits in `bin/`, else its directory,
/// else the file alone), then follows a `#!` interpreter, a few levels deep.
fn grant_executable(
    real: &Path,
    depth: usize,
    guard: &Guard,
    path: &OsStr,
    grants: &mut Vec<PathBuf>,
) {
    let Some(dir) = real.parent() else {
        return;
    };
    let prefix = dir
        .file_name()
        .filter(|name| *name == "bin" || *name == "sbin")
        .and(dir.parent());
    // A version manager's shim (pyenv, rbenv) runs the manager from its root, which holds
    // only interpreters.
    let manager_root = dir
        .file_name()
        .filter(|name| *name == "shims")
        .and(dir.parent())
        .filter(|root| root.join("libexec").is_dir() && root.join("versions").is_dir());
    match (manager_root, prefix) {
        (Some(root), _) if guard.allows(root) => grants.push(root.to_path_buf()),
        (_, Some(prefix)) if guard.allows_prefix(prefix) => grants.push(prefix.to_path_buf()),
        _ if guard.allows(dir) => grants.push(dir.to_path_buf()),
        _ if guard.allows_file(real) => grants.push(real.to_path_buf()),
        _ => {
            tracing::warn!(program = %real.display(), "handler program inside the home is not granted")
        }
    }
    if depth >= 4 {
        return;
    }
    for interpreter in shebang_programs(real, path) {
        if let Ok(interpreter) = std::fs::canonicalize(&interpreter) {
            grant_executable(&interpreter, depth + 1, guard, path, grants);
        }
    }
}

/// The programs a `#!` line runs: the interpreter, and for `env` the program it looks up.
fn shebang_programs(script: &Path, path: &OsStr) -> Vec<PathBuf> {
    let mut head = [0u8; 256];
    let read = std::fs::File::open(script)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let Some(line) = head[..read].strip_prefix(b"#!") else {
        return Vec::new();
    };
    let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let Some(interpreter) = words.next() else {
        return Vec::new();
    };
    let mut programs = vec![PathBuf::from(interpreter)];
    if Path::new(interpreter).file_name() == Some(OsStr::new("env")) {
        let target = words.find(|w| !w.starts_with('-') && !w.contains('='));
        programs.extend(target.and_then(|t| search_path(OsStr::new(t), path)));
    }
    programs
}

fn dedup(paths: &mut Vec<PathBuf>) {
    let mut seen = std::collections::BTreeSet::new();
    paths.retain(|p| seen.insert(p.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(folder: &'a Path, home: &'a Path, command: &'a [String]) -> SpecRequest<'a> {
        SpecRequest {
            plugin_folder: folder,
            data_dir: Path::new("/h/data/p"),
            credentials_dir: Some(Path::new("/h/run/credentials/p")),
            network: false,
            command,
            path: OsStr::new("/usr/bin:/bin"),
            carapace_home: home,
            run_as: None,
        }
    }

    #[test]
    fn spec_round_trips_through_its_argument() {
        let spec = ConfineSpec {
            read_only: vec!["/etc/hosts".into()],
            allow_network: true,
            ..ConfineSpec::default()
        };
        assert_eq!(ConfineSpec::from_arg(&spec.to_arg()).ok(), Some(spec));
        assert!(ConfineSpec::from_arg(r#"{"read_only":[],"extra":1}"#).is_err());
    }

    #[test]
    fn spec_grants_only_the_plugins_own_directories() {
        let command = vec!["sh".to_owned()];
        let spec = spec_for(&request(
            Path::new("/h/plugins/p"),
            Path::new("/h"),
            &command,
        ));
        assert_eq!(spec.read_write, vec![PathBuf::from("/h/data/p")]);
        assert!(spec
            .read_only
            .contains(&PathBuf::from("/h/run/credentials/p")));
        assert!(spec.read_exec.contains(&PathBuf::from("/h/plugins/p")));
        let all = spec.read_only.iter().chain(&spec.read_exec);
        for path in all {
            assert!(
                !Path::new("/h").starts_with(path),
                "{} covers the home",
                path.display()
            );
        }
        assert!(!spec.read_only.contains(&PathBuf::from("/etc")));
        assert_eq!(spec.tmp_dir, Some(PathBuf::from("/h/data/p/tmp")));
        let mut hidden = vec![PathBuf::from("/h/run")];
        hidden.extend(super::super::sockets::service_socket_places());
        assert_eq!(spec.hide, hidden);
        assert_eq!(spec.rebind, vec![PathBuf::from("/h/run/credentials/p")]);
    }

    #[test]
    fn a_store_credentials_dir_is_not_rebound() {
        let command = vec!["sh".to_owned()];
        let mut req = request(Path::new("/h/plugins/p"), Path::new("/h"), &command);
        req.credentials_dir = Some(Path::new("/h/credentials/p"));
        let spec = spec_for(&req);
        assert_eq!(spec.hide[0], PathBuf::from("/h/run"));
        assert!(spec.rebind.is_empty());
        let old =
            r#"{"read_only":[],"read_exec":[],"read_write":[],"devices":[],"allow_network":false}"#;
        assert!(ConfineSpec::from_arg(old).is_ok_and(|s| s.hide.is_empty()));
    }

    #[test]
    fn a_handler_beside_the_home_grants_only_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("carapace");
        std::fs::create_dir(&home).expect("home");
        let handler = dir.path().join("handler");
        std::fs::write(&handler, "#!/bin/sh\n").expect("handler");
        let command = vec![handler.display().to_string()];
        let folder = home.join("plugins/p");
        let spec = spec_for(&request(&folder, &home, &command));
        let real = std::fs::canonicalize(&handler).expect("real");
        assert!(spec.read_exec.contains(&real));
        let parent = real.parent().expect("parent").to_path_buf();
        assert!(!spec.read_exec.contains(&parent));
    }

    #[test]
    fn a_handler_of_its_own_uid_walks_only_to_its_grants() {
        let dir = tempfile::tempdir().expect("tempdir");
        let top = std::fs::canonicalize(dir.path()).expect("real");
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let home = top.join("carapace");
        for sub in ["plugins/p", "data/p", "run/credentials/p"] {
            std::fs::create_dir_all(home.join(sub)).expect("layout");
        }
        let command = vec!["sh".to_owned()];
        let folder = home.join("plugins/p");
        let data = home.join("data/p");
        let creds = home.join("run/credentials/p");
        let mut req = request(&folder, &home, &command);
        req.data_dir = &data;
        req.credentials_dir = Some(&creds);
        req.run_as = Some(RunAs {
            uid: 2_000_000_000,
            gid: 2_000_000_000,
        });
        let spec = spec_for(&req);
        // The 0700 directory above the home is the first this uid cannot search.
        assert!(spec.hide.contains(&top), "{spec:?}");
        assert_eq!(spec.rebind_exec, vec![folder.clone()]);
        assert_eq!(spec.rebind_write, vec![data.clone()]);
        assert_eq!(spec.rebind, vec![creds.clone()]);
        // Without another uid, nothing unsearchable is hidden: `run/` and the service
        // sockets' places (`/tmp`, where this home lies, whose grants are bound back).
        req.run_as = None;
        let own = spec_for(&req);
        assert_eq!(own.hide[0], home.join("run"));
        assert!(!own.hide.contains(&top), "{own:?}");
        if own.hide.iter().any(|h| top.starts_with(h)) {
            assert_eq!(own.rebind_exec, vec![folder.clone()]);
            assert_eq!(own.rebind_write, vec![data.clone()]);
        }
    }

    #[test]
    fn shebang_follows_env_to_the_interpreter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/usr/bin/env -S sh -e\n").expect("script");
        let programs = shebang_programs(&script, OsStr::new("/usr/bin:/bin"));
        assert_eq!(programs.first(), Some(&PathBuf::from("/usr/bin/env")));
        assert_eq!(programs.len(), 2, "{programs:?}");
    }
}
