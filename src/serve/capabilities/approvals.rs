//! `confirm/resolve {id, decision, args_hash, by}`: a plugin with the
//! `approvals` capability decides a pending confirmation of a group it serves,
//! for the user it names (e.g. the owner who tapped a button in a chat).
//!
//! One-shot: deciding removes the pending call, so a second decision finds
//! nothing (`NOT_PENDING`). Bound to the exact arguments: `args_hash` must equal
//! the pending call's ([`crate::policy::args_hash`]) byte for byte, else
//! `HASH_MISMATCH` and the call stays pending. The group and hash checks run
//! under the lock that removes the entry. A call whose shown arguments had a
//! credential-shaped part hidden may be denied but not approved
//! (`REDACTED_ARGUMENTS`): a hidden part can hide what runs. Every decision is audited
//! (`confirmation.decided` with `by` and `plugin`); must never decide for a
//! plugin without the capability, or a call of a group it does not serve.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, require, shown, who, Refused};
use crate::core::Core;
use crate::plugins::manifest::Capability;
use crate::policy::{Decision, Resolution, Undecided};

/// The method.
pub const RESOLVE: &str = "confirm/resolve";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveParams {
    id: String,
    decision: Decision,
    args_hash: String,
    by: String,
}

/// Why the check under the lock refused.
enum Mismatch {
    NotServed(String),
    Hash,
    /// An approval of a call whose shown arguments had something hidden.
    Redacted(usize),
}

/// Serves `confirm/resolve` for `plugin`.
pub fn resolve(core: &Arc<Core>, plugin: &str, params: &Value) -> Result<Value, Refused> {
    require(core, plugin, Capability::Approvals)?;
    let params: ResolveParams = parse(params)?;
    let by = who(core, &params.by)?;
    let id = shown(core, &params.id);
    let policy = core.policy();
    let resolution = Resolution {
        decision: params.decision,
        by: by.clone(),
        plugin: Some(plugin.to_owned()),
    };
    let decided = core
        .confirmations
        .decide_checked(&params.id, resolution, |pending| {
            if !policy.plugin_serves(plugin, &pending.group) {
                return Err(Mismatch::NotServed(pending.group.clone()));
            }
            // Exactly the published form: no case folding, no prefix, no padding.
            if pending.args_hash.as_bytes() != params.args_hash.as_bytes() {
                return Err(Mismatch::Hash);
            }
            // What the plugin could show had parts hidden (a credential shape can
            // swallow the rest of a line, or of a string): what runs was not seen.
            if params.decision == Decision::Approve && !pending.redactions.is_empty() {
                return Err(Mismatch::Redacted(pending.redactions.len()));
            }
            Ok(())
        });
    let pending = match decided {
        Ok(pending) => pending,
        Err(Undecided::NotPending) => {
            return Err(Refused::new(
                "NOT_PENDING",
                format!("no pending confirmation `{id}`: unknown, already decided or expired"),
            )
            .with(json!({"confirmation": id, "by": by})))
        }
        Err(Undecided::Refused(Mismatch::NotServed(group))) => {
            return Err(Refused::new(
                "NOT_SERVED",
                format!("confirmation `{id}` is of a group this plugin does not serve"),
            )
            .with(json!({"confirmation": id, "group": group, "by": by})))
        }
        Err(Undecided::Refused(Mismatch::Redacted(parts))) => {
            return Err(Refused::new(
                "REDACTED_ARGUMENTS",
                format!(
                    "confirmation `{id}` had {parts} credential-shaped part(s) hidden from what \
                     could be shown, so it cannot be approved from here: the person reads it \
                     whole with `carapace confirm show {id}` and decides at the host (deny works)"
                ),
            )
            .with(json!({"confirmation": id, "by": by})))
        }
        Err(Undecided::Refused(Mismatch::Hash)) => {
            return Err(Refused::new(
                "HASH_MISMATCH",
                format!(
                    "args_hash does not match the arguments of confirmation `{id}`; \
                     it stays pending (show the person the current arguments)"
                ),
            )
            .with(json!({"confirmation": id, "by": by})))
        }
    };
    let approved = params.decision == Decision::Approve;
    core.audit_core(
        "confirmation.decided",
        json!({"confirmation": pending.id, "tool": pending.tool, "session": pending.session,
               "group": pending.group, "approved": approved, "decision": params.decision,
               "by": by, "plugin": plugin}),
    );
    tracing::info!(%plugin, confirmation = %pending.id, approved, "a plugin decided a confirmation");
    Ok(
        json!({"id": pending.id, "decision": params.decision, "tool": pending.tool,
              "group": pending.group}),
    )
}
