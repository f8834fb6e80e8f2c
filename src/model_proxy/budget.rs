//! Token caps: what a group, and a scheduled task within it, may spend in a
//! UTC day (`[model]` in `config.toml`), and what a request is told when a cap
//! is reached.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a cap applies to: a group, or one task of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// The group.
    pub group: String,
    /// The task (a task session's `origin.sender`), or none for the whole group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl Scope {
    /// The whole of `group`.
    pub fn group(group: &str) -> Scope {
        Scope {
            group: group.to_owned(),
            task: None,
        }
    }

    /// `task` of `group`.
    pub fn task(group: &str, task: &str) -> Scope {
        Scope {
            group: group.to_owned(),
            task: Some(task.to_owned()),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = crate::display::escape_str(&self.group);
        match &self.task {
            Some(task) => write!(
                f,
                "task `{}` of group `{group}`",
                crate::display::escape_str(task)
            ),
            None => write!(f, "group `{group}`"),
        }
    }
}

/// The configured daily caps that apply to one request (0 = no cap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// The group's.
    pub group: u64,
    /// The task's, for a task session.
    pub task: u64,
}

impl Caps {
    /// Whether any cap applies.
    pub fn any(&self) -> bool {
        self.group > 0 || self.task > 0
    }
}

/// The caps of `[model]`: a default for every group, one per group, a default
/// for every task and one per task id.
#[derive(Debug, Clone, Copy)]
pub struct CapTable<'a> {
    /// `daily_token_budget`: each group's, unless `group_budgets` names it.
    pub group_default: u64,
    /// `group_budgets`.
    pub groups: &'a BTreeMap<String, u64>,
    /// `task_daily_token_budget`: each task's, unless `task_budgets` names it.
    pub task_default: u64,
    /// `task_budgets`, by task id.
    pub tasks: &'a BTreeMap<String, u64>,
}

impl CapTable<'_> {
    /// The caps for a request of `group` (and `task`, for a task session).
    pub fn caps(&self, group: &str, task: Option<&str>) -> Caps {
        Caps {
            group: self
                .groups
                .get(group)
                .copied()
                .unwrap_or(self.group_default),
            task: task.map_or(0, |task| {
                self.tasks.get(task).copied().unwrap_or(self.task_default)
            }),
        }
    }

    /// The configured cap of `scope` (0 = none).
    pub fn cap(&self, scope: &Scope) -> u64 {
        let caps = self.caps(&scope.group, scope.task.as_deref());
        if scope.task.is_some() {
            caps.task
        } else {
            caps.group
        }
    }
}

/// A request refused at a cap: whose, what was used and held, the cap in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    /// The group, or the task, whose cap was reached.
    pub scope: Scope,
    /// Tokens used today (UTC).
    pub used: u64,
    /// Tokens held by requests still in flight.
    pub reserved: u64,
    /// The cap in force: the configured one plus today's extensions.
    pub cap: u64,
    /// The first refusal at this cap today (an event is published once per cap).
    pub first: bool,
}

impl Exhausted {
    /// The payload of `budget.exhausted`.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::json!({
            "group": self.scope.group,
            "task": self.scope.task,
            "used": self.used,
            "reserved": self.reserved,
            "cap": self.cap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_caps_win_over_defaults_and_tasks_only_for_task_sessions() {
        let groups = BTreeMap::from([("family".to_owned(), 50)]);
        let tasks = BTreeMap::from([("digest".to_owned(), 7)]);
        let table = CapTable {
            group_default: 100,
            groups: &groups,
            task_default: 10,
            tasks: &tasks,
        };
        assert_eq!(
            table.caps("main", None),
            Caps {
                group: 100,
                task: 0
            }
        );
        assert_eq!(
            table.caps("family", Some("x")),
            Caps {
                group: 50,
                task: 10
            }
        );
        assert_eq!(
            table.caps("main", Some("digest")),
            Caps {
                group: 100,
                task: 7
            }
        );
        assert_eq!(table.cap(&Scope::task("main", "digest")), 7);
        assert_eq!(table.cap(&Scope::group("family")), 50);
    }
}
