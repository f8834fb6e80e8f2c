//! The host side of an agent container's mounts, beyond the session socket:
//! the group's workspace and agent state (read-write, the group's own), and one
//! read-only overlay the agent cannot change, Claude Code's managed directory
//! `/etc/claude-code`: the settings (Bash only for `ipc`, no bypass mode, no
//! rule from anywhere else), the instructions (`CLAUDE.md` with the memory
//! brief) and the skills of the running plugins. Claude Code 2.1 reads all
//! three from there first, and no command-line flag or workspace file widens
//! what the managed settings deny.
//!
//! The overlay is a copy written for this session into its own directory,
//! readable by the agent's group only; nothing else of `$CARAPACE_HOME` is
//! ever mounted, and nothing from the container becomes a path here.
//!
//! The workspace and state directories are reached from the home one component
//! at a time with `O_NOFOLLOW` and changed only through their descriptors
//! (`fchown`, `fchmod`): a symbolic link on the way (an old `agent` plugin
//! could plant one) refuses the session, never hands its target to the agent.

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::unistd::{chown, Gid};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::runtime::access::Sharing;
use serde_json::json;

use crate::paths::{create_private_dir, Home};
use crate::runtime::ContainerSpec;

/// Claude Code's managed directory: settings, instructions and skills, read-only.
pub const MANAGED_TARGET: &str = "/etc/claude-code";
/// Where the group's agent state (Claude Code's `~/.claude`) lives, read-write.
pub const STATE_TARGET: &str = "/home/agent/.claude";
/// Largest memory brief put into the instructions.
pub const MAX_BRIEF_BYTES: usize = 64 << 10;

/// What the instructions say before the memory brief.
const INSTRUCTIONS: &str = "\
# Working inside Carapace

You run in a locked-down container with no network. Your one way to act on the
world is the `ipc` command, run through Bash:

- `ipc list_tools` lists the tools you may call, with their argument schemas.
- `ipc <tool> '<arguments as a JSON object>'` calls one; the result is printed
  as JSON. A refusal is printed as JSON on stderr with a `code` (for example
  `VALIDATION_FAILED` names the `field`; `RATE_LIMITED` gives `retry_after`).
- Some tools ask the user first; wait for the answer, do not retry at once.
  Such a call can take minutes: run `ipc` in the foreground, never in the
  background, and do not set the Bash tool's `timeout` for it, or you lose
  its answer while the call still runs.
- An error whose message says the call may still run or may have acted
  (`\"retriable\": false`) means the action may have happened: check, or ask
  the user, before you repeat it.

There are no credentials in this container and no way to reach the network;
do not look for either. Your working directory is the group's workspace.
";

/// The settings every session gets: Bash for `ipc` only, no web tools, no
/// bypass mode, no permission rule from a flag or a file the agent can write,
/// and no traffic but the model's.
pub fn managed_settings() -> serde_json::Value {
    json!({
        "permissions": {
            "allow": ["Bash(ipc:*)"],
            "deny": ["WebFetch", "WebSearch"],
            "disableBypassPermissionsMode": "disable",
        },
        "allowManagedPermissionRulesOnly": true,
        "env": {
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
        },
    })
}

/// The instructions with the memory brief (if a plugin gave one).
pub fn instructions(brief: Option<&str>) -> String {
    let mut text = INSTRUCTIONS.to_owned();
    if let Some(brief) = brief.filter(|b| !b.trim().is_empty()) {
        text.push_str("\n## What you remember\n\n");
        let end = floor_char_boundary(brief, MAX_BRIEF_BYTES);
        text.push_str(&brief[..end]);
        text.push('\n');
    }
    text
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The group's workspace, `groups/<group>/`.
pub fn workspace_dir(home: &Home, group: &str) -> PathBuf {
    home.root().join("groups").join(group)
}

/// The group's agent state, `state/agent/<group>/state/`.
pub fn state_dir(home: &Home, group: &str) -> PathBuf {
    home.agent_dir(group).join("state")
}

/// Writes the managed overlay into `overlay` and adds every mount to `spec`.
///
/// `overlay` must lie outside the session directory: that one is mounted
/// read-write, and where the agent runs as the core's own user (rootless) it
/// could rewrite its managed settings through it.
///
/// `skills` is the assembled skills directory (`run/skills`), copied so that
/// the agent sees this session's snapshot and nothing else of `run/`.
pub fn add_mounts(
    spec: ContainerSpec,
    home: &Home,
    overlay: &Path,
    skills: &Path,
    brief: Option<&str>,
) -> std::io::Result<ContainerSpec> {
    let (uid, gid) = spec.user;
    let workspace = workspace_dir(home, &spec.group);
    let state = state_dir(home, &spec.group);
    for dir in [&workspace, &state] {
        let opened = open_beneath(home.root(), dir)?;
        give_to_agent(&opened, uid, gid)?;
    }
    create_private_dir(&home.overlays_dir())?;
    create_private_dir(overlay)?;
    std::fs::write(
        overlay.join("managed-settings.json"),
        managed_settings().to_string(),
    )?;
    std::fs::write(overlay.join("CLAUDE.md"), instructions(brief))?;
    copy_tree(skills, &overlay.join(".claude/skills"))?;
    share_read_only(overlay, gid)?;
    Ok(spec
        .with_workspace(&workspace)
        .with_state(&state, STATE_TARGET)
        .with_overlay(overlay, MANAGED_TARGET))
}

/// Opens the directory `dir` below `root` (the home), creating what is missing
/// (0700), one component at a time and never through a link: a symbolic link or
/// anything but a directory on the way is refused with an error naming it.
fn open_beneath(root: &Path, dir: &Path) -> std::io::Result<OwnedFd> {
    let refused = |path: &Path, what: &str| {
        std::io::Error::other(format!(
            "{} is {what}; the agent's directories are never reached through one: \
             check it, remove it, then start the session again",
            path.display()
        ))
    };
    let relative = dir
        .strip_prefix(root)
        .map_err(|_| refused(dir, "not inside the home"))?;
    let open_dir = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = rustix::fs::open(root, open_dir, Mode::empty())?;
    let mut shown = root.to_path_buf();
    for part in relative.components() {
        let Component::Normal(name) = part else {
            return Err(refused(dir, "not a plain path"));
        };
        shown.push(name);
        match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        fd = match rustix::fs::openat(&fd, name, open_dir | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let link = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                let what = if link {
                    "a symbolic link"
                } else {
                    "not a directory"
                };
                return Err(refused(&shown, what));
            }
            Err(e) => return Err(e.into()),
        };
    }
    Ok(fd)
}

/// As root, the agent's uid owns its read-write directories (0700); as a member
/// of the agent's group, that group may write them (0770); rootless (`keep-id`)
/// the agent is the daemon's user already (0700). Changed through the open
/// directory, so nothing is followed.
fn give_to_agent(dir: &OwnedFd, uid: u32, gid: u32) -> std::io::Result<()> {
    let group = Some(rustix::fs::Gid::from_raw(gid));
    let mode = match Sharing::detect(gid) {
        Sharing::Root => {
            rustix::fs::fchown(dir, Some(rustix::fs::Uid::from_raw(uid)), group)?;
            0o700
        }
        Sharing::Group => {
            rustix::fs::fchown(dir, None, group)?;
            0o770
        }
        Sharing::SameUser => 0o700,
    };
    rustix::fs::fchmod(dir, Mode::from_raw_mode(mode))?;
    Ok(())
}

/// Every overlay file becomes `<owner>:<agent gid>` 0640 (dirs 0750), so the
/// agent may read but not change them; rootless, they stay the daemon user's.
fn share_read_only(dir: &Path, gid: u32) -> std::io::Result<()> {
    let group = (Sharing::detect(gid) != Sharing::SameUser).then(|| Gid::from_raw(gid));
    set_read_only(dir, group)
}

fn set_read_only(path: &Path, group: Option<Gid>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let mode = if meta.is_dir() { 0o750 } else { 0o640 };
    if group.is_some() {
        chown(path, None, group).map_err(std::io::Error::from)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            set_read_only(&entry?.path(), group)?;
        }
    }
    Ok(())
}

/// Copies regular files and directories (never symlinks) from `from` to `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_allow_only_ipc_through_bash_and_nothing_can_widen_them() {
        let settings = managed_settings();
        assert_eq!(settings["permissions"]["allow"], json!(["Bash(ipc:*)"]));
        assert_eq!(
            settings["permissions"]["disableBypassPermissionsMode"],
            "disable"
        );
        assert_eq!(settings["allowManagedPermissionRulesOnly"], true);
    }

    #[test]
    fn the_brief_is_appended_and_bounded() {
        assert!(!instructions(None).contains("What you remember"));
        assert!(!instructions(Some("  \n")).contains("What you remember"));
        let text = instructions(Some("- likes tea"));
        assert!(text.starts_with("# Working inside Carapace"));
        assert!(text.ends_with("## What you remember\n\n- likes tea\n"));
        let huge = "é".repeat(MAX_BRIEF_BYTES);
        let text = instructions(Some(&huge));
        assert!(text.len() < INSTRUCTIONS.len() + MAX_BRIEF_BYTES + 64);
    }

    #[test]
    fn overlays_are_copies_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let skills = dir.path().join("skills");
        std::fs::create_dir_all(skills.join("echo-hello")).expect("mkdir");
        std::fs::write(skills.join("echo-hello/SKILL.md"), "---\nname: x\n---\n").expect("write");
        std::os::unix::fs::symlink("/etc/shadow", skills.join("leak")).expect("symlink");
        let copy = dir.path().join("copy");
        copy_tree(&skills, &copy).expect("copy");
        assert!(copy.join("echo-hello/SKILL.md").is_file());
        assert!(!copy.join("leak").exists(), "a symlink is never followed");
    }

    fn spec_for(group: &str, socket_dir: &Path) -> ContainerSpec {
        use crate::runtime::config::RuntimeConfig;
        use crate::runtime::image::VerifiedImage;
        use crate::runtime::spec::ImageSource;
        ContainerSpec::new(
            &RuntimeConfig::default(),
            "0123456789abcdef",
            group,
            ImageSource::Image(VerifiedImage { id: "0".repeat(64) }),
            socket_dir,
            vec!["/bin/agent".into()],
        )
    }

    #[test]
    fn a_linked_state_or_workspace_is_refused_and_its_target_left_alone() {
        use std::os::unix::fs::MetadataExt;
        for linked in ["state/agent/main/state", "state/agent/main", "groups/main"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let home = Home::at(dir.path().join("home"));
            home.ensure_layout().expect("layout");
            let outside = dir.path().join("outside");
            std::fs::create_dir(&outside).expect("outside");
            std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            let before = std::fs::metadata(&outside).expect("stat");
            let link = home.root().join(linked);
            std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
            std::os::unix::fs::symlink(&outside, &link).expect("symlink");
            let skills = dir.path().join("skills");
            std::fs::create_dir(&skills).expect("skills");
            let err = add_mounts(
                spec_for("main", &dir.path().join("socket")),
                &home,
                &dir.path().join("overlay"),
                &skills,
                None,
            )
            .expect_err("a linked directory is refused");
            assert!(
                err.to_string().contains("symbolic link")
                    && err.to_string().contains(&link.display().to_string()),
                "{linked}: {err}"
            );
            let after = std::fs::metadata(&outside).expect("stat");
            assert_eq!(after.mode(), before.mode(), "{linked}: mode changed");
            assert_eq!(
                (after.uid(), after.gid()),
                (before.uid(), before.gid()),
                "{linked}: owner changed"
            );
            assert_eq!(
                std::fs::read_dir(&outside).expect("ls").count(),
                0,
                "{linked}: nothing created outside"
            );
        }
    }

    /// Rule: nothing of a plugin's data dir is mounted, so no agent can write
    /// a plugin's files (the scheduler's test clock among them).
    #[test]
    fn no_mount_reaches_a_plugins_data_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().join("home"));
        home.ensure_layout().expect("layout");
        let data = home.plugin_data_dir("scheduler");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("clock"), "2026-12-03T10:00:00Z").expect("clock");
        let skills = dir.path().join("skills");
        std::fs::create_dir(&skills).expect("skills");
        let mut spec = spec_for("main", &dir.path().join("socket"));
        spec.user = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let spec =
            add_mounts(spec, &home, &dir.path().join("overlay"), &skills, None).expect("mounts");
        let data_root = home.root().join("data");
        assert!(!spec.mounts.is_empty());
        for mount in &spec.mounts {
            assert!(
                !mount.source.starts_with(&data_root) && !data_root.starts_with(&mount.source),
                "{mount:?} reaches {}",
                data_root.display()
            );
        }
    }
}
