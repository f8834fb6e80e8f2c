//! Stage 4: the session's group must be allowed the tool, and under its rate limit.

use std::collections::HashMap;
use std::sync::Arc;

use crate::refusal::Refusal;
use globset::{Glob, GlobSet, GlobSetBuilder};

use super::arguments::Validated;
use super::envelope::Call;
use crate::config::Config;
use crate::core::Core;
use crate::tools::{Tool, ToolOwner, ToolSpec};

/// A call its group may make, now. Only [`authorize`] makes one.
#[derive(Debug)]
pub struct Authorized {
    /// The call.
    pub call: Call,
    /// Its tool.
    pub tool: Arc<Tool>,
    _proof: AuthorizedProof,
}

#[derive(Debug)]
struct AuthorizedProof;

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

/// Stage 4: checks the group's permission, then takes a rate-limit token.
pub fn authorize(core: &Core, validated: Validated) -> Result<Authorized, Refusal> {
    let Validated { call, tool } = validated;
    let group = &call.session.group;
    let name = &tool.spec.name;
    if !core.policy().allows(group, &tool.spec) {
        return Err(Refusal::NotAllowed {
            group: group.clone(),
            tool: name.clone(),
        });
    }
    let limit = core.config().rate_limit_for(group);
    if let Err(retry_after) = core.rate_limiter.take(&call.session.id, name, limit) {
        return Err(Refusal::RateLimited {
            tool: name.clone(),
            retry_after,
        });
    }
    Ok(Authorized {
        call,
        tool,
        _proof: AuthorizedProof,
    })
}
