//! Stage 4: the session's group must not be paused, must be allowed the tool,
//! and must be under its rate limit.

use std::sync::Arc;

use crate::refusal::Refusal;

use super::arguments::Validated;
use super::envelope::Call;
use crate::config::Config;
use crate::policy::{GroupPolicy, PausedGroups, RateLimiter};
use crate::tools::Tool;

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

/// Stage 4: checks that the group is not paused and may call the tool, then
/// takes a rate-limit token. It reads only what decides: the paused groups,
/// the group policy, the group's limit in the config and the rate limiter (the
/// parts of the core it is given).
pub fn authorize(
    paused: &PausedGroups,
    policy: &GroupPolicy,
    config: &Config,
    rate_limiter: &RateLimiter,
    validated: Validated,
) -> Result<Authorized, Refusal> {
    let Validated { call, tool } = validated;
    let group = &call.session.group;
    let name = &tool.spec.name;
    if paused.is_paused(group) {
        return Err(Refusal::GroupPaused {
            group: group.clone(),
        });
    }
    if !policy.allows(group, &tool.spec) {
        return Err(Refusal::NotAllowed {
            group: group.clone(),
            tool: name.clone(),
        });
    }
    let limit = config.rate_limit_for(group);
    if let Err(retry_after) = rate_limiter.take(&call.session.id, name, limit) {
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
