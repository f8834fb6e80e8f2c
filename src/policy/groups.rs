//! Which tools each group may call: the config's globs, compiled once per
//! config. State the core holds and stage 4 reads; must never let a group that
//! is not configured call anything.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::Config;
use crate::tools::{ToolOwner, ToolSpec};

/// Which tools each configured group may call, compiled from the config's globs.
#[derive(Debug, Default)]
pub struct GroupPolicy {
    groups: HashMap<String, GlobSet>,
    plugin_groups: HashMap<String, Vec<String>>,
}

impl GroupPolicy {
    /// Compiles the groups of `config` (patterns were checked when it loaded).
    pub fn from_config(config: &Config) -> GroupPolicy {
        let mut groups = HashMap::new();
        for (name, group) in &config.groups {
            let mut builder = GlobSetBuilder::new();
            for pattern in &group.tools {
                if let Ok(glob) = Glob::new(pattern) {
                    builder.add(glob);
                }
            }
            let set = builder.build().unwrap_or_else(|_| GlobSet::empty());
            groups.insert(name.clone(), set);
        }
        let plugin_groups = config
            .plugins
            .settings
            .iter()
            .filter_map(|(plugin, s)| Some((plugin.clone(), s.groups.clone()?)))
            .collect();
        GroupPolicy {
            groups,
            plugin_groups,
        }
    }

    /// Whether `group` is configured.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Whether `plugin` serves `group`: the group is configured, and the plugin is
    /// not limited to other groups (`[plugins.<name>] groups`). A plugin may publish
    /// an event (and so start a session, with the trust it reports) only for such a group.
    pub fn plugin_serves(&self, plugin: &str, group: &str) -> bool {
        self.has_group(group)
            && self
                .plugin_groups
                .get(plugin)
                .is_none_or(|groups| groups.iter().any(|g| g == group))
    }

    /// Whether `group` may call `tool`: its patterns match the name, and a plugin
    /// limited to some groups lists it. An unconfigured group may call nothing.
    pub fn allows(&self, group: &str, tool: &ToolSpec) -> bool {
        let matches = self
            .groups
            .get(group)
            .is_some_and(|set| set.is_match(&tool.name));
        let plugin_allows = match &tool.owner {
            ToolOwner::Plugin(plugin) => self
                .plugin_groups
                .get(plugin)
                .is_none_or(|groups| groups.iter().any(|g| g == group)),
            ToolOwner::Intrinsic => true,
        };
        matches && plugin_allows
    }
}
