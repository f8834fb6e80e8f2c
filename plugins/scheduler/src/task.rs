//! A task as stored: its schedule, zone, prompt, the group and trust of the
//! session that made it, and where it stands. Trust is the creator's, from the
//! envelope the core built, never from arguments.

use jiff::Timestamp;
use serde::Serialize;

use crate::error::Invalid;
use crate::misfire::Misfire;
use crate::timing::{utc, Timing};

/// How far the session that made a task counted as the owner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Anyone else, or not known.
    Unknown,
    /// Someone the channel knows who is not the owner.
    Contact,
    /// The owner.
    Owner,
}

impl Trust {
    /// The trust an origin's `trust` names: exactly `owner` or `contact`, else `unknown`.
    pub fn of(text: Option<&str>) -> Trust {
        match text {
            Some("owner") => Trust::Owner,
            Some("contact") => Trust::Contact,
            _ => Trust::Unknown,
        }
    }

    /// The name as stored and published.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Owner => "owner",
            Trust::Contact => "contact",
            Trust::Unknown => "unknown",
        }
    }
}

/// Who made a task, as the core recorded the creating session's origin: the
/// kind (`message`, `task`), the plugin that started it and the sender it
/// reported. The same sender of the same plugin in a later session of the same
/// group is the same person; the same sender string from another plugin is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Creator {
    /// The origin's kind.
    pub kind: String,
    /// The plugin that started the session.
    pub plugin: String,
    /// The sender that plugin reported.
    pub sender: String,
}

impl Creator {
    /// The creator an origin names: `None` unless it names a plugin and a
    /// sender (a prompt or an opened session has neither).
    pub fn of(kind: &str, plugin: Option<&str>, sender: Option<&str>) -> Option<Creator> {
        match (plugin, sender) {
            (Some(plugin), Some(sender)) if !plugin.is_empty() && !sender.is_empty() => {
                Some(Creator {
                    kind: kind.to_owned(),
                    plugin: plugin.to_owned(),
                    sender: sender.to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// Who declared a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A session, through `schedule_task`.
    Agent,
    /// The person, in `config.toml` (read-only to the agent).
    Config,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Fires when due.
    Active,
    /// Paused by `pause_task`.
    Paused,
    /// A one-shot task that fired (or was passed over).
    Done,
    /// Cancelled.
    Cancelled,
}

impl State {
    /// The name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Paused => "paused",
            State::Done => "done",
            State::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<State> {
        match text {
            "active" => Some(State::Active),
            "paused" => Some(State::Paused),
            "done" => Some(State::Done),
            "cancelled" => Some(State::Cancelled),
            _ => None,
        }
    }
}

/// A stored task.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// `t<n>` (made by a session) or `config:<name>`.
    pub id: String,
    /// The group whose session it starts.
    pub group: String,
    /// Who declared it.
    pub source: Source,
    /// The cron pattern, for a recurring task.
    pub cron: Option<String>,
    /// The instant, for a one-shot task (Unix seconds).
    #[serde(skip)]
    pub at: Option<i64>,
    /// The IANA zone.
    pub tz: String,
    /// The prompt its sessions get.
    pub prompt: String,
    /// What to do with slots missed while down.
    pub misfire: Misfire,
    /// The trust of the session that made it (the person's for a config task).
    pub trust: Trust,
    /// The session that made it, if one did.
    pub created_by: Option<String>,
    /// The sender that made it, if the session had one (`None` for tasks
    /// stored before schema version 2).
    #[serde(skip)]
    pub creator: Option<Creator>,
    /// When it was made (Unix seconds).
    #[serde(skip)]
    pub created_at: i64,
    /// Where it stands.
    pub state: State,
    /// Its next slot (Unix seconds), if any.
    #[serde(skip)]
    pub next_at: Option<i64>,
    /// Its last fired slot (Unix seconds), if any.
    #[serde(skip)]
    pub last_fire_at: Option<i64>,
}

impl Task {
    /// Its schedule in its zone.
    pub fn timing(&self) -> Result<Timing, Invalid> {
        let at = self
            .at
            .and_then(|at| Timestamp::from_second(at).ok())
            .map(utc);
        Timing::parse(self.cron.as_deref(), at.as_deref(), &self.tz)
    }
}

/// A fire recorded and not yet known to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    /// `<task>@<UTC instant>`.
    pub fire_id: String,
    /// The task.
    pub task_id: String,
    /// The task's group.
    pub group: String,
    /// The slot (Unix seconds).
    pub scheduled_at: i64,
    /// The prompt.
    pub prompt: String,
    /// The creator's trust.
    pub trust: Trust,
    /// The task's zone.
    pub tz: String,
}

/// The fire id of `task`'s slot at `instant`.
pub fn fire_id(task: &str, instant: Timestamp) -> String {
    format!("{task}@{}", utc(instant))
}
