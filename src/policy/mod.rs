//! What the core holds to decide on a call, below the core and the pipeline:
//! which groups may call which tools ([`groups`]), the rate limits
//! ([`rate_limit`]) and pending high-risk calls ([`confirmations`]). Nothing
//! here knows the core, a session socket or a plugin process.

pub mod confirmations;
pub mod groups;
pub mod rate_limit;

pub use confirmations::{Confirmations, Decision, DisplayedCall, PendingConfirmation};
pub use groups::GroupPolicy;
pub use rate_limit::RateLimiter;
