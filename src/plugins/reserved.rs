//! Plugin names the core keeps for itself: a plugin's name becomes paths
//! (`data/<plugin>/`, `credentials/<plugin>/`, `run/credentials/<plugin>/`), systemd
//! credential ids (`<plugin>.<name>`), skill directories (`<plugin>-<skill>`) and labels
//! (`plugin:<name>`), so no plugin may take a name the core derives one of its own from.

/// Every reserved name with what the core uses it for (sorted by name).
pub const RESERVED: &[(&str, &str)] = &[
    ("agent", "it names the agent's transcripts and state"),
    ("audit", "it names the audit log"),
    (
        "carapace",
        "it is the core's own name: its skill `carapace-core`, its units",
    ),
    ("config", "it names the core's configuration"),
    ("control", "it names the control socket"),
    (
        "core",
        "it is the core's name in envelopes and the audit log: `source: core`",
    ),
    ("credentials", "it names the credentials store"),
    ("data", "it names the plugins' data directory"),
    ("events", "it names the event bus"),
    ("groups", "it names the group workspaces"),
    ("intrinsic", "it names the core's built-in tools"),
    ("ipc", "it names the agent's `ipc` command"),
    ("keys", "it names the core's keys"),
    ("logs", "it names the log directory"),
    (
        "model",
        "it names the model's credentials: `auth set --plugin model`, systemd's `model.<name>`",
    ),
    ("plugin", "it names the plugin labels: `plugin:<name>`"),
    ("plugins", "it names the plugins directory"),
    ("run", "it names the runtime directory"),
    ("session", "it names the sessions: `session:<id>`"),
    ("sessions", "it names the session directories and records"),
    ("skills", "it names the assembled skills"),
    ("state", "it names the core's own state"),
];

/// Why `name` is reserved, or `None` if a plugin may use it.
pub fn reserved_reason(name: &str) -> Option<&'static str> {
    RESERVED
        .iter()
        .find(|(reserved, _)| *reserved == name)
        .map(|(_, why)| *why)
}

/// The refusal for a plugin named `name` in `folder`, or `None` if the name is free.
pub fn refusal(name: &str, folder: &std::path::Path) -> Option<String> {
    reserved_reason(name).map(|why| {
        format!(
            "plugin `{name}` ({}): the name `{name}` is reserved by the core ({why}); \
             rename the plugin's folder",
            folder.display()
        )
    })
}

/// Plugin names match `[a-z][a-z0-9_-]{0,63}`.
pub fn valid_plugin_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_valid_plugin_names_and_sorted() {
        let names: Vec<&str> = RESERVED.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for name in names {
            assert!(super::super::valid_plugin_name(name), "{name}");
            assert!(reserved_reason(name).is_some());
        }
        assert!(reserved_reason("echo").is_none());
        assert!(reserved_reason("models").is_none());
    }
}
