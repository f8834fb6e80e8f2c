//! The unprivileged uid/gid each plugin handler runs as when the core is root, and the
//! ownership of its data dir.
//!
//! One id per plugin, the same number for uid and gid, from a range of 65,536 ids starting at
//! `core.plugin_uid_base` (default 2,100,000,000): the plugin's name hashed into the range,
//! the next free one on a collision. Per plugin rather than one shared id, so that file
//! permissions, signals and `/proc` separate plugins from each other even where Landlock
//! does not (its signal scoping needs ABI 6). Ids are stable while the core runs: a reload
//! keeps every id handed out and gives a new plugin one no live handler has
//! ([`assign_after`]), so no two live handlers ever share an id.
//!
//! The default range lies where no allocator puts anything: above every user and the
//! subordinate ranges `useradd` hands out (at most 600,100,000 + 65,536), above
//! systemd-nspawn's container ranges (below 1,879,048,192), above SSSD's automatic id mapping
//! of AD users (`ldap_idmap_range_max`, 2,000,200,000 by default; the former default base of
//! 2,000,000,000 lay inside it) and FreeIPA's ranges (below 2,000,000,000), below systemd's
//! foreign-uid range (2,147,352,576) and below 2^31 (no signedness trouble in tools that keep
//! ids in a signed int). An id a host user or group has (asked of the system, so through
//! NSS: SSSD, LDAP, systemd-userdb), or one inside a range of `/etc/subuid`/`/etc/subgid`, is
//! refused at launch all the same.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, Gid, Uid};
use sha2::{Digest, Sha256};

use super::confine::RunAs;

/// The first id of the plugins' range by default.
pub const DEFAULT_UID_BASE: u32 = 2_100_000_000;
/// How many ids the range holds.
pub const ID_RANGE: u32 = 65_536;
/// Deepest directory level re-owned in a data dir; deeper entries keep their owner.
const MAX_DEPTH: usize = 64;

/// Why a plugin's identity cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The id belongs to the host already.
    #[error("id {id} is {what}; set `core.plugin_uid_base` to a free range of {ID_RANGE} ids")]
    Taken {
        /// The id.
        id: u32,
        /// Whose it is.
        what: String,
    },
    /// The data dir could not be re-owned.
    #[error("cannot give {path} to uid {uid}: {source}")]
    Chown {
        /// The entry.
        path: String,
        /// The plugin's uid.
        uid: u32,
        /// The error.
        source: nix::Error,
    },
}

/// The id of each plugin in `names`, when none runs yet (the core starts).
pub fn assign<'a>(base: u32, names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, RunAs> {
    assign_after(base, names, &BTreeMap::new())
}

/// The id of each plugin in `names` given the ids handed out before (`previous`, on a
/// reload): every plugin of `previous` keeps its id (whether it keeps running, is restarted
/// or was removed and may still be draining), and a new name gets the first id, from where
/// its name hashes, that no plugin of `previous` nor any other new name has. So no two live
/// handlers ever share an id, and a plugin's id never changes while the core runs.
pub fn assign_after<'a>(
    base: u32,
    names: impl IntoIterator<Item = &'a str>,
    previous: &BTreeMap<String, RunAs>,
) -> BTreeMap<String, RunAs> {
    let names: BTreeSet<&str> = names.into_iter().collect();
    let mut ids = previous.clone();
    let mut used: BTreeSet<u32> = previous.values().flat_map(|r| [r.uid, r.gid]).collect();
    for name in names {
        if ids.contains_key(name) {
            continue;
        }
        let digest = Sha256::digest(name.as_bytes());
        let mut offset =
            u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % ID_RANGE;
        // Every id may be in use only with 65,536 plugins: then the last is shared.
        for _ in 0..ID_RANGE {
            if !used.contains(&base.saturating_add(offset)) {
                break;
            }
            offset = (offset + 1) % ID_RANGE;
        }
        let id = base.saturating_add(offset);
        used.insert(id);
        ids.insert(name.to_owned(), RunAs { uid: id, gid: id });
    }
    ids
}

/// Refuses ids a host user or group has, or that lie in a subordinate id range. Users and
/// groups are asked of the system (`getpwuid_r`/`getgrgid_r`, so through NSS: SSSD, LDAP,
/// systemd-userdb as well as the files), the subordinate ranges read from `/etc`.
pub fn check_free(ids: RunAs) -> Result<(), IdentityError> {
    let taken = |what: String, id: u32| Err(IdentityError::Taken { id, what });
    if let Ok(Some(user)) = nix::unistd::User::from_uid(Uid::from_raw(ids.uid)) {
        return taken(format!("the id of the user `{}`", user.name), ids.uid);
    }
    if let Ok(Some(group)) = nix::unistd::Group::from_gid(Gid::from_raw(ids.gid)) {
        return taken(format!("the id of the group `{}`", group.name), ids.gid);
    }
    check_free_in(ids, Path::new("/etc"))
}

/// [`check_free`] against the account files in `etc`.
pub fn check_free_in(ids: RunAs, etc: &Path) -> Result<(), IdentityError> {
    let taken = |what: String, id: u32| Err(IdentityError::Taken { id, what });
    for (file, id) in [("passwd", ids.uid), ("group", ids.gid)] {
        let text = std::fs::read_to_string(etc.join(file)).unwrap_or_default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.get(2).and_then(|f| f.parse::<u32>().ok()) == Some(id) {
                return taken(format!("the id of `{}` in /etc/{file}", fields[0]), id);
            }
        }
    }
    for (file, id) in [("subuid", ids.uid), ("subgid", ids.gid)] {
        let text = std::fs::read_to_string(etc.join(file)).unwrap_or_default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            let start = fields.get(1).and_then(|f| f.parse::<u64>().ok());
            let count = fields.get(2).and_then(|f| f.parse::<u64>().ok());
            if let (Some(start), Some(count)) = (start, count) {
                if (start..start.saturating_add(count)).contains(&u64::from(id)) {
                    return taken(
                        format!("in the range of `{}` in /etc/{file}", fields[0]),
                        id,
                    );
                }
            }
        }
    }
    Ok(())
}

/// Makes `dir` (0700) the plugin's. When it was someone else's (a data dir from before
/// plugins had their own ids, or from another id), everything beneath it is re-owned first,
/// through directory descriptors that never follow a link; device files and files with
/// other hard links are left as they are (a handler must not be handed what a link points to).
pub fn own_data_dir(dir: &Path, ids: RunAs) -> Result<(), IdentityError> {
    let fail = |source: nix::Error| IdentityError::Chown {
        path: dir.display().to_string(),
        uid: ids.uid,
        source,
    };
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut top = Dir::open(dir, flags, Mode::empty()).map_err(fail)?;
    let stat = fstat(top.as_raw_fd()).map_err(fail)?;
    if (stat.st_uid, stat.st_gid) != (ids.uid, ids.gid) {
        tracing::info!(dir = %dir.display(), uid = ids.uid, "giving the data dir to its plugin's own uid");
        reown(&mut top, ids, 0).map_err(fail)?;
        // The top last: an interrupted walk is done again at the next start.
        fchown(top.as_raw_fd(), owner(ids), group(ids)).map_err(fail)?;
    }
    if stat.st_mode & 0o7777 != 0o700 {
        fchmod(top.as_raw_fd(), Mode::from_bits_truncate(0o700)).map_err(fail)?;
    }
    Ok(())
}

/// The first of the plugin folder and its handler program (when it lies in the folder) that
/// a handler of its own uid could not read: they stay the core's, readable by others.
pub fn unreadable_part(folder: &Path, program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let handler = folder.join(program);
    let wanted = [(folder.to_path_buf(), 0o005), (handler, 0o004)];
    wanted
        .into_iter()
        .find(|(path, bits)| {
            std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & bits != *bits)
        })
        .map(|(path, _)| path)
}

fn owner(ids: RunAs) -> Option<Uid> {
    Some(Uid::from_raw(ids.uid))
}

fn group(ids: RunAs) -> Option<Gid> {
    Some(Gid::from_raw(ids.gid))
}

/// Re-owns what `dir` holds, depth first.
fn reown(dir: &mut Dir, ids: RunAs, depth: usize) -> nix::Result<()> {
    let names: Vec<CString> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_owned())
        .filter(|name| name.as_bytes() != b"." && name.as_bytes() != b"..")
        .collect();
    let fd = dir.as_raw_fd();
    for name in names {
        let stat = fstatat(Some(fd), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
        let shown = name.to_string_lossy();
        if kind == SFlag::S_IFDIR {
            if depth >= MAX_DEPTH {
                tracing::warn!(entry = %shown, "data dir too deep; left as it is");
                continue;
            }
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let mut child = Dir::openat(Some(fd), name.as_c_str(), flags, Mode::empty())?;
            reown(&mut child, ids, depth + 1)?;
            fchown(child.as_raw_fd(), owner(ids), group(ids))?;
        } else if kind == SFlag::S_IFCHR || kind == SFlag::S_IFBLK {
            tracing::warn!(entry = %shown, "device file in a data dir; not given to the plugin");
        } else if kind == SFlag::S_IFREG && stat.st_nlink > 1 {
            tracing::warn!(entry = %shown, "hard-linked file in a data dir; not given to the plugin");
        } else {
            fchownat(
                Some(fd),
                name.as_c_str(),
                owner(ids),
                group(ids),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_and_in_range() {
        let one = assign(DEFAULT_UID_BASE, ["mail", "memory", "calendar"]);
        let two = assign(DEFAULT_UID_BASE, ["memory", "calendar", "mail", "web"]);
        assert_eq!(one["mail"], two["mail"]);
        let ids: BTreeSet<u32> = two.values().map(|r| r.uid).collect();
        assert_eq!(ids.len(), 4);
        assert!(ids
            .iter()
            .all(|id| (DEFAULT_UID_BASE..DEFAULT_UID_BASE + ID_RANGE).contains(id)));
        assert!(two.values().all(|r| r.uid == r.gid));
    }

    /// The offset a name hashes to (before probing).
    fn hashed(name: &str) -> u32 {
        assign(0, [name])[name].uid
    }

    #[test]
    fn a_new_plugin_never_takes_the_id_of_a_running_one() {
        // A running plugin, and a new name hashing to its id that sorts before it.
        let running = "zz-running";
        let target = hashed(running);
        let newcomer = (0u32..)
            .map(|i| format!("a{i}"))
            .find(|name| hashed(name) == target)
            .expect("a colliding name");
        let before = assign(DEFAULT_UID_BASE, [running]);
        let after = assign_after(DEFAULT_UID_BASE, [newcomer.as_str(), running], &before);
        // The running plugin keeps its id, and the newcomer gets another.
        assert_eq!(after[running], before[running], "{newcomer}");
        assert_ne!(after[newcomer.as_str()], before[running]);
        // A removed plugin's id stays reserved (its handler may still drain) and comes back
        // to it; a later newcomer on the same hash goes around both.
        let removed = assign_after(DEFAULT_UID_BASE, [newcomer.as_str()], &after);
        assert_eq!(removed[running], before[running]);
        let third = (0u32..)
            .map(|i| format!("b{i}"))
            .find(|name| hashed(name) == target)
            .expect("a third colliding name");
        let crowded = assign_after(DEFAULT_UID_BASE, [third.as_str()], &removed);
        let ids: BTreeSet<u32> = crowded.values().map(|r| r.uid).collect();
        assert_eq!(ids.len(), 3, "{crowded:?}");
    }

    #[test]
    fn an_old_data_dir_is_given_over_without_following_links() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: giving a directory to another uid needs root");
            return;
        }
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(data.join("sub/deeper")).expect("tree");
        std::fs::write(data.join("sub/deeper/state"), "x").expect("file");
        std::fs::write(&outside, "host file").expect("outside");
        std::os::unix::fs::symlink(&outside, data.join("link")).expect("symlink");
        std::fs::hard_link(&outside, data.join("hard")).expect("hard link");
        let device = nix::sys::stat::mknod(
            &data.join("null"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .is_ok();
        let ids = RunAs {
            uid: DEFAULT_UID_BASE + 7,
            gid: DEFAULT_UID_BASE + 7,
        };
        own_data_dir(&data, ids).expect("given");
        let owner = |p: &Path| std::fs::symlink_metadata(p).expect("meta").uid();
        for mine in ["", "sub", "sub/deeper", "sub/deeper/state", "link"] {
            assert_eq!(owner(&data.join(mine)), ids.uid, "{mine}");
        }
        let mode = std::fs::metadata(&data).expect("meta").mode() & 0o7777;
        assert_eq!(mode, 0o700);
        // Not what a link points to, nor a second name of a host file, nor a device.
        assert_eq!(owner(&outside), 0);
        if device {
            assert_eq!(owner(&data.join("null")), 0);
        }
        // Already its own: nothing is walked again.
        own_data_dir(&data, ids).expect("again");
    }

    #[test]
    fn a_plugin_folder_its_uid_cannot_read_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let folder = dir.path().join("p");
        std::fs::create_dir(&folder).expect("folder");
        std::fs::write(folder.join("run.py"), "").expect("handler");
        let chmod = |p: &Path, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        chmod(&folder, 0o755);
        chmod(&folder.join("run.py"), 0o755);
        assert_eq!(unreadable_part(&folder, "run.py"), None);
        assert_eq!(unreadable_part(&folder, "python3"), None);
        chmod(&folder.join("run.py"), 0o700);
        assert_eq!(
            unreadable_part(&folder, "run.py"),
            Some(folder.join("run.py"))
        );
        chmod(&folder, 0o700);
        assert_eq!(unreadable_part(&folder, "run.py"), Some(folder.clone()));
    }

    #[test]
    fn a_host_users_id_or_a_subordinate_range_is_refused() {
        let etc = tempfile::tempdir().expect("etc");
        std::fs::write(
            etc.path().join("passwd"),
            "alice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(etc.path().join("subuid"), "alice:100000:65536\n").expect("subuid");
        let id = |n| RunAs { uid: n, gid: 5 };
        assert!(check_free_in(id(1000), etc.path()).is_err());
        let error = check_free_in(id(100_001), etc.path()).expect_err("in alice's range");
        assert!(
            error.to_string().contains("core.plugin_uid_base"),
            "{error}"
        );
        assert!(check_free_in(id(DEFAULT_UID_BASE), etc.path()).is_ok());
    }

    #[test]
    fn a_user_of_the_system_database_is_refused() {
        // Asked of NSS, not read from a file: the uid and gid of this process exist.
        let own = RunAs {
            uid: nix::unistd::getuid().as_raw(),
            gid: DEFAULT_UID_BASE,
        };
        let error = check_free(own).expect_err("this process's uid");
        assert!(error.to_string().contains("the user"), "{error}");
        let group = RunAs {
            uid: DEFAULT_UID_BASE,
            gid: nix::unistd::getgid().as_raw(),
        };
        assert!(check_free(group).is_err());
        assert!(check_free(RunAs {
            uid: DEFAULT_UID_BASE,
            gid: DEFAULT_UID_BASE
        })
        .is_ok());
    }
}
