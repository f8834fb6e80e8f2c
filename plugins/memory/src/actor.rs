//! Who writes: an agent session (trust from its origin, held to the caps) or the person.
//!
//! Must never derive trust from anything but the origin the core reported.

use carapace_plugin_sdk::Origin;

use crate::caps::Cap;
use crate::entry::Trust;

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
}

/// The caps a store counts against: a store, and a supersede when it replaces an entry.
pub(crate) fn store_caps(supersedes: bool) -> &'static [Cap] {
    if supersedes {
        &[Cap::Stores, Cap::Supersedes]
    } else {
        &[Cap::Stores]
    }
}
