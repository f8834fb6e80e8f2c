//! Who writes or reads: an agent session (trust from its origin, held to the
//! caps) or the person; and what each may see.
//!
//! The owner (the person, or a session the owner started) sees the whole group.
//! Any other session, whose answer goes back to someone else (a contact, a
//! stranger's mail), sees only the owner's behavioural entries (instruction,
//! correction, preference: how the agent is to behave) and what was stored from
//! its own channel and sender; never the owner's facts and context, nor what
//! other people said.
//!
//! Must never derive trust or sight from anything but the origin the core reported.

use carapace_plugin_sdk::Origin;

use crate::caps::Cap;
use crate::entry::{Entry, EntryType, Trust};

/// Who asks for a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    /// An agent session, as its call's envelope names it: trust `owner` only when
    /// `origin.trust` is `owner`; held to the per-session caps.
    Session {
        /// The session id from the envelope.
        id: String,
        /// The session's origin from the envelope (`None`: untrusted).
        origin: Option<Origin>,
    },
    /// The person at the host (the `carapace memory` commands): the owner, no caps.
    Person {
        /// What to record as the writer, e.g. `host:alice`.
        name: String,
    },
}

impl Actor {
    /// The trust of what this actor stores.
    pub fn trust(&self) -> Trust {
        match self {
            Actor::Session { origin, .. } => Trust::of_origin(origin.as_ref()),
            Actor::Person { .. } => Trust::Owner,
        }
    }

    /// The name recorded as an entry's `session` (or `promoted_by`).
    pub fn name(&self) -> &str {
        match self {
            Actor::Session { id, .. } => id,
            Actor::Person { name } => name,
        }
    }

    /// The origin recorded with what it stores.
    pub(crate) fn origin(&self) -> Option<&Origin> {
        match self {
            Actor::Session { origin, .. } => origin.as_ref(),
            Actor::Person { .. } => None,
        }
    }

    /// The session whose caps a write counts against (`None` for the person).
    pub(crate) fn capped_session(&self) -> Option<&str> {
        match self {
            Actor::Session { id, .. } => Some(id),
            Actor::Person { .. } => None,
        }
    }

    /// Whether this actor may overwrite or remove an entry of `trust`: an untrusted
    /// actor never touches the owner's entries.
    pub(crate) fn may_change(&self, trust: Trust) -> bool {
        trust == Trust::Untrusted || self.trust() == Trust::Owner
    }

    /// What this actor may see of the group (see the module doc).
    pub fn sight(&self) -> Sight<'_> {
        if self.trust() == Trust::Owner {
            return Sight::All;
        }
        let origin = self.origin();
        Sight::Limited {
            plugin: origin.and_then(|o| o.plugin.as_deref()),
            sender: origin.and_then(|o| o.sender.as_deref()),
        }
    }
}

/// What a reader may see of a group's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight<'a> {
    /// Everything: the person, or a session the owner started.
    All,
    /// The owner's behavioural entries, and untrusted entries stored from this
    /// channel and sender (none when either is unknown).
    Limited {
        /// The channel plugin the session came through.
        plugin: Option<&'a str>,
        /// The sender as that channel reported it.
        sender: Option<&'a str>,
    },
}

impl Sight<'_> {
    /// Whether `entry` is visible.
    pub fn sees(&self, entry: &Entry) -> bool {
        let Sight::Limited { plugin, sender } = *self else {
            return true;
        };
        match entry.trust {
            Trust::Owner => entry.kind.is_behavioural(),
            Trust::Untrusted => {
                let from = entry.origin.as_ref();
                let same =
                    |ours: Option<&str>, theirs: Option<&str>| ours.is_some() && ours == theirs;
                same(plugin, from.and_then(|o| o.plugin.as_deref()))
                    && same(sender, from.and_then(|o| o.sender.as_deref()))
            }
        }
    }

    /// The same rule as SQL over the entries aliased `e`: `""` for [`Sight::All`],
    /// else ` AND (...)` with its values pushed onto `values` (bound, never spliced).
    pub(crate) fn sql(&self, values: &mut Vec<rusqlite::types::Value>) -> String {
        let Sight::Limited { plugin, sender } = *self else {
            return String::new();
        };
        let behavioural: Vec<String> = EntryType::BEHAVIOURAL
            .iter()
            .map(|kind| format!("'{}'", kind.as_str()))
            .collect();
        let owner = format!(
            "(e.trust = 'owner' AND e.type IN ({}))",
            behavioural.join(", ")
        );
        let (Some(plugin), Some(sender)) = (plugin, sender) else {
            return format!(" AND {owner}");
        };
        values.push(rusqlite::types::Value::Text(plugin.to_owned()));
        let plugin_at = values.len();
        values.push(rusqlite::types::Value::Text(sender.to_owned()));
        let sender_at = values.len();
        format!(
            " AND ({owner} OR (e.trust = 'untrusted' \
               AND json_extract(e.origin, '$.plugin') = ?{plugin_at} \
               AND json_extract(e.origin, '$.sender') = ?{sender_at}))"
        )
    }
}

/// The caps a store counts against: a store, and a supersede when it replaces an entry.
pub(crate) fn store_caps(supersedes: bool) -> &'static [Cap] {
    if supersedes {
        &[Cap::Stores, Cap::Supersedes]
    } else {
        &[Cap::Stores]
    }
}
