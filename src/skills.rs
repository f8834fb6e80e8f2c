//! Skills: each healthy plugin's `skills/*.md`, assembled where Claude Code looks for them.
//!
//! Layout: `<out>/<plugin>-<name>/SKILL.md` with `name`/`description` front
//! matter, plus `carapace-core/SKILL.md` for the intrinsic tools. Only plugins
//! that run are included; nothing here reads outside the plugin folders.

use std::path::{Path, PathBuf};

use crate::tools::ToolSpec;

/// Largest skill file copied.
const MAX_SKILL_BYTES: u64 = 256 << 10;

/// A plugin whose skills should be assembled.
pub struct SkillSource<'a> {
    /// The plugin's name.
    pub plugin: &'a str,
    /// Its folder (holding `skills/`).
    pub folder: &'a Path,
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
    write_skill(
        out,
        "carapace-core",
        &core_description(),
        &core_body(intrinsics),
    )?;
    count += 1;
    for source in sources {
        for file in skill_files(&source.folder.join("skills")) {
            let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                tracing::warn!(plugin = source.plugin, file = %file.display(), "skill name must be [A-Za-z0-9_-]; skipped");
                continue;
            }
            let too_big = std::fs::metadata(&file)
                .map(|m| m.len() > MAX_SKILL_BYTES)
                .unwrap_or(true);
            if too_big {
                tracing::warn!(plugin = source.plugin, file = %file.display(), "skill over 256 KiB; skipped");
                continue;
            }
            let text = std::fs::read_to_string(&file)?;
            let (description, body) = split_front_matter(&text);
            let description = description.unwrap_or_else(|| source.description.to_owned());
            write_skill(
                out,
                &format!("{}-{stem}", source.plugin),
                &description,
                body,
            )?;
            count += 1;
        }
    }
    Ok(count)
}

fn skill_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
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
        let sources = [SkillSource {
            plugin: "mail",
            folder: &folder,
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
}
