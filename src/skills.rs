//! Skills: each healthy plugin's `skills/*.md`, assembled where Claude Code looks for them.
//!
//! Layout: `<out>/<plugin>-<name>/SKILL.md` with `name`/`description` front
//! matter, plus `carapace-core/SKILL.md` for the intrinsic tools. Only plugins
//! that run are included. Claude Code takes a skill's name from its directory
//! (lowercase letters, digits and `-`), so there is no separator a plugin name
//! cannot hold: plugin `mail`'s `read-inbox` and plugin `mail-read`'s `inbox`
//! are both `mail-read-inbox`. Discovery refuses the later plugin of such a
//! pair by name ([`dir_name`]); assembly never overwrites a skill directory. Skills are read once, at discovery ([`read`]),
//! beneath the plugin folder without following links and within size limits
//! (issue 12, finding 1); the text assembled goes through the sanitizer, which
//! knows the stored secrets' values, before it is written.

use std::path::Path;

use crate::plugins::folder::{FolderDir, FolderError};
use crate::tools::ToolSpec;

/// Largest skill file accepted.
pub const MAX_SKILL_BYTES: u64 = 256 << 10;
/// Most skill files one plugin may have.
pub const MAX_SKILLS: usize = 64;
/// The directory of the core's own skill.
pub const CORE_SKILL: &str = "carapace-core";

/// The directory plugin `plugin`'s skill `stem` is assembled into.
pub fn dir_name(plugin: &str, stem: &str) -> String {
    format!("{plugin}-{stem}")
}

/// One skill file as read from a plugin folder.
#[derive(Debug, Clone)]
pub struct Skill {
    /// The file name without `.md` (`[A-Za-z0-9_-]+`).
    pub stem: String,
    /// Its text.
    pub text: String,
}

/// Why a plugin's skills were refused (and with them the plugin).
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    /// A link, an odd file type, an oversize or unreadable file.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// More skill files than [`MAX_SKILLS`].
    #[error("{path} holds more than {MAX_SKILLS} skills")]
    TooMany {
        /// The skills directory.
        path: String,
    },
}

/// Reads `skills/*.md` of the plugin folder `folder`; a link or an oversize
/// file anywhere on the way refuses them all. Badly named files are skipped.
pub fn read(plugin: &str, folder: &FolderDir) -> Result<Vec<Skill>, SkillError> {
    let Some(dir) = folder.subdir("skills")? else {
        return Ok(Vec::new());
    };
    let mut skills = Vec::new();
    for name in dir.names()? {
        let Some(stem) = name.strip_suffix(".md") else {
            continue;
        };
        if stem.is_empty()
            || !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            tracing::warn!(plugin, file = %dir.path().join(&name).display(), "skill name must be [A-Za-z0-9_-]; skipped");
            continue;
        }
        if skills.len() == MAX_SKILLS {
            return Err(SkillError::TooMany {
                path: dir.path().display().to_string(),
            });
        }
        if let Some(text) = dir.read_text(&name, MAX_SKILL_BYTES)? {
            skills.push(Skill {
                stem: stem.to_owned(),
                text,
            });
        }
    }
    Ok(skills)
}

/// A plugin whose skills should be assembled.
pub struct SkillSource<'a> {
    /// The plugin's name.
    pub plugin: &'a str,
    /// Its skills, as read at discovery.
    pub skills: &'a [Skill],
    /// Used when a skill has no description of its own.
    pub description: &'a str,
}

/// Rebuilds `out` from the plugins' skills and the intrinsic tools; returns how many skills.
pub fn assemble(
    out: &Path,
    sources: &[SkillSource<'_>],
    intrinsics: &[ToolSpec],
) -> std::io::Result<usize> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    crate::paths::create_private_dir(out)?;
    let mut count = 0;
    write_skill(out, CORE_SKILL, &core_description(), &core_body(intrinsics))?;
    count += 1;
    let sanitizer = crate::sanitize::shared();
    for source in sources {
        for skill in source.skills {
            // A skill reaches every container: credential shapes and stored secrets' values out.
            let (text, kinds) = sanitizer.redact_str(&skill.text);
            if !kinds.is_empty() {
                tracing::warn!(plugin = source.plugin, skill = %skill.stem, ?kinds, "credentials redacted from a skill");
            }
            let (description, body) = split_front_matter(&text);
            let description = match description {
                Some(own) => own,
                None => sanitizer.redact_str(source.description).0.into_owned(),
            };
            let name = dir_name(source.plugin, &skill.stem);
            // Discovery refuses a plugin whose skill would take another's directory;
            // should two still meet here, the first one stays.
            if std::fs::symlink_metadata(out.join(&name)).is_ok() {
                tracing::error!(plugin = source.plugin, skill = %skill.stem, dir = %name, "skill left out: another skill has its directory");
                continue;
            }
            write_skill(out, &name, &description, body)?;
            count += 1;
        }
    }
    Ok(count)
}

/// Splits `---` front matter from the body; returns its `description`, if any.
fn split_front_matter(text: &str) -> (Option<String>, &str) {
    let Some(rest) = text.strip_prefix("---\n") else {
        return (None, text);
    };
    let Some(end) = rest.find("\n---\n") else {
        return (None, text);
    };
    let description = rest[..end]
        .lines()
        .find_map(|l| l.strip_prefix("description:"))
        .map(|d| d.trim().trim_matches('"').to_owned());
    (description, &rest[end + 5..])
}

fn write_skill(out: &Path, name: &str, description: &str, body: &str) -> std::io::Result<()> {
    let dir = out.join(name);
    crate::paths::create_private_dir(&dir)?;
    let one_line: String = description.lines().collect::<Vec<_>>().join(" ");
    let text = format!(
        "---\nname: {name}\ndescription: {}\n---\n{}",
        serde_json::Value::String(one_line),
        body.trim_start()
    );
    std::fs::write(dir.join("SKILL.md"), text)
}

fn core_description() -> String {
    "How to reach the outside world from this sandbox: the ipc command, and the tools that explain themselves".into()
}

fn core_body(intrinsics: &[ToolSpec]) -> String {
    let mut body = String::from(
        "# Using tools through ipc\n\nYou have no network and no credentials. Every action outside this sandbox is a tool call:\n\n```sh\nipc <tool> '<arguments as a JSON object>'\n```\n\nThe result is printed as JSON on stdout (exit 0). A refusal is a JSON error on stderr (exit 1) with a `code`: `VALIDATION_FAILED` names the `field` to fix, `RATE_LIMITED` gives `retry_after` seconds, `CONFIRMATION_DENIED` means the user said no: do not retry it.\n\n## Built-in tools\n\n",
    );
    for tool in intrinsics {
        body.push_str(&format!("- `ipc {}`: {}\n", tool.name, tool.description));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_are_assembled_with_front_matter() {
        let root = tempfile::tempdir().expect("tempdir");
        let folder = root.path().join("mail");
        std::fs::create_dir_all(folder.join("skills")).expect("dirs");
        std::fs::write(
            folder.join("skills/read.md"),
            "---\ndescription: Read mail\n---\n# Read\nUse ipc.\n",
        )
        .expect("skill");
        std::fs::write(folder.join("skills/send.md"), "# Send\n").expect("skill");
        std::fs::write(folder.join("skills/bad name.md"), "# Bad\n").expect("skill");
        let out = root.path().join("out");
        let dir = FolderDir::open(&folder).expect("folder");
        let skills = read("mail", &dir).expect("skills");
        let sources = [SkillSource {
            plugin: "mail",
            skills: &skills,
            description: "Mail plugin",
        }];
        let count = assemble(&out, &sources, &crate::tools::intrinsic::specs()).expect("assemble");
        assert_eq!(count, 3);
        let read = std::fs::read_to_string(out.join("mail-read/SKILL.md")).expect("read");
        assert_eq!(
            read,
            "---\nname: mail-read\ndescription: \"Read mail\"\n---\n# Read\nUse ipc.\n"
        );
        let send = std::fs::read_to_string(out.join("mail-send/SKILL.md")).expect("send");
        assert!(send.contains("description: \"Mail plugin\""));
        let core = std::fs::read_to_string(out.join("carapace-core/SKILL.md")).expect("core");
        assert!(core.contains("ipc get_diagnostics"));
        assert!(!out.join("mail-bad name").exists());
    }

    #[test]
    fn a_skill_never_overwrites_another_with_the_same_directory() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        let first = [Skill {
            stem: "read-inbox".into(),
            text: "# mail's inbox\n".into(),
        }];
        let second = [Skill {
            stem: "inbox".into(),
            text: "# not mail's\n".into(),
        }];
        let sources = [
            SkillSource {
                plugin: "mail",
                skills: &first,
                description: "Mail",
            },
            SkillSource {
                plugin: "mail-read",
                skills: &second,
                description: "Other",
            },
        ];
        let count = assemble(&out, &sources, &[]).expect("assemble");
        assert_eq!(count, 2, "the core's and mail's");
        let text = std::fs::read_to_string(out.join("mail-read-inbox/SKILL.md")).expect("skill");
        assert!(text.contains("mail's inbox"), "{text}");
    }
}
