//! What the core holds to decide on a call, below the core and the pipeline:
//! which groups may call which tools ([`groups`]), the rate limits
//! ([`rate_limit`]), pending high-risk calls ([`confirmations`]) and the hash
//! that binds a decision to their arguments ([`args_hash`]), and which groups
//! are paused ([`paused`]). Nothing here knows the core, a session socket or a
//! plugin process.

pub mod args_hash;
pub mod confirmations;
pub mod groups;
pub mod paused;
pub mod rate_limit;

pub use args_hash::args_hash;
pub use confirmations::{
    Confirmations, Decision, DisplayedCall, PendingConfirmation, RedactedPart, Resolution,
    Undecided,
};
pub use groups::GroupPolicy;
pub use paused::{Pause, Paused, PausedGroups};
pub use rate_limit::RateLimiter;
