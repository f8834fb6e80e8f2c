//! The request path: six stages from raw bytes to an answer, in order.
//!
//! Each stage is a function from the previous stage's value to the next, so a
//! call cannot be routed without an [`authorize::Authorized`] value, nor reach
//! a plugin without a [`confirm::Confirmed`] one. Every refusal becomes a
//! structured error; nothing here may panic on input.

pub mod arguments;
pub mod authorize;
pub mod confirm;
pub mod envelope;
pub mod intrinsic;
pub mod respond;
pub mod route;
pub mod topic;

use std::sync::Arc;

use carapace_ipc::{parse_request, ErrorBody};

use crate::refusal::Refusal;
use serde_json::{json, Value};

use crate::core::Core;
use crate::session::Session;

/// What the pipeline settled on, before the response path.
pub struct Outcome {
    /// The request's topic (empty if unreadable).
    pub topic: String,
    /// The request's correlation (empty if unreadable).
    pub correlation: String,
    /// `core` or `plugin:<name>`.
    pub source: String,
    /// The tool's result or the refusal.
    pub result: Result<Value, ErrorBody>,
    /// Whether the answer is audited: false for a refusal that is only counted
    /// (see [`refused_early`]).
    pub audited: bool,
}

/// Runs one raw message from `session` through the pipeline and returns the response bytes.
pub async fn handle(core: &Core, session: &Arc<Session>, raw: &[u8]) -> Vec<u8> {
    let outcome = run_stages(core, session, raw).await;
    respond::finish(core, session, outcome)
}

async fn run_stages(core: &Core, session: &Arc<Session>, raw: &[u8]) -> Outcome {
    let received = json!({"bytes": raw.len()});
    let wire = match parse_request(raw) {
        Ok(wire) => wire,
        Err(e) => {
            let (topic, correlation) = (e.topic.clone(), e.correlation.clone());
            let error = ErrorBody::from(Refusal::Wire(e));
            let audited = refused_early(core, session, Some(&received), "", "", &error);
            return Outcome {
                topic,
                correlation,
                source: "core".into(),
                result: Err(error),
                audited,
            };
        }
    };
    let call = envelope::construct(session, wire);
    let (topic, correlation) = (call.topic.clone(), call.correlation.clone());
    let outcome = |error: ErrorBody, audited: bool| Outcome {
        topic: topic.clone(),
        correlation: correlation.clone(),
        source: "core".into(),
        result: Err(error),
        audited,
    };
    // Stages 2 to 4 are cheap to fail on purpose: those refusals are counted.
    let early = |error: ErrorBody| {
        let audited = refused_early(core, session, Some(&received), &topic, &correlation, &error);
        outcome(error, audited)
    };
    let resolved = match topic::resolve(&core.catalog(), call) {
        Ok(resolved) => resolved,
        Err(refusal) => return early(refusal.into()),
    };
    let validated = match arguments::validate(resolved) {
        Ok(validated) => validated,
        Err(refusal) => return early(refusal.into()),
    };
    let authorized = match authorize::authorize(
        &core.paused,
        &core.policy(),
        &core.config(),
        &core.rate_limiter,
        validated,
    ) {
        Ok(authorized) => authorized,
        Err(refusal) => return early(refusal.into()),
    };
    core.audit(session, "request.received", received.clone());
    let late = |error: ErrorBody| {
        let stage = error.stage.unwrap_or(0);
        core.audit(
            session,
            "request.rejected",
            rejection(stage, &correlation, &error),
        );
        outcome(error, true)
    };
    let confirmed = match confirm::gate(core, authorized).await {
        Ok(confirmed) => confirmed,
        Err(refusal) => return late(refusal.into()),
    };
    if let Err(refusal) = route::admit(core, &confirmed).await {
        return late(refusal.into());
    }
    let source = confirmed.tool().spec.owner.label();
    let result = route::dispatch(core, confirmed).await;
    Outcome {
        topic,
        correlation,
        source,
        result,
        audited: true,
    }
}

/// A refusal before stage 5, which a flooding session can cause at will: the
/// first of its code in an interval is recorded in full (`request.received`,
/// `request.rejected`, then the answer), the others only counted into the
/// session's `refusals.summary` line, which names the topics it counted (so
/// a harmless first refusal cannot hide which tools were probed after it).
/// Returns whether it was recorded.
fn refused_early(
    core: &Core,
    session: &Session,
    received: Option<&Value>,
    topic: &str,
    correlation: &str,
    error: &ErrorBody,
) -> bool {
    // The peer's own words, going into the log: redacted, then cut (a flood
    // of huge topics costs a bounded scan each).
    let max = crate::audit::MAX_TOPIC_CHARS;
    let head: String = topic.chars().take(4 * max).collect();
    let topic = core.sanitizer.redact_cut(&head, max);
    let kind = ("request.rejected", error.code.as_str());
    let (full, closed) = session
        .refusals
        .admit_topic(kind, 1, &topic, std::time::Instant::now());
    if let Some(summary) = closed {
        core.audit(session, crate::audit::SUMMARY_KIND, summary.fields());
    }
    if !full {
        return false;
    }
    if let Some(received) = received {
        core.audit(session, "request.received", received.clone());
    }
    let stage = error.stage.unwrap_or(0);
    core.audit(
        session,
        "request.rejected",
        rejection(stage, correlation, error),
    );
    true
}

fn rejection(stage: u8, correlation: &str, error: &ErrorBody) -> Value {
    json!({
        "stage": stage,
        "correlation": correlation,
        "code": error.code,
        "field": error.field,
    })
}

/// Answers a message whose ZeroMQ frames had an unexpected shape.
pub fn handle_unframed(core: &Core, session: &Arc<Session>) -> Vec<u8> {
    let error = ErrorBody::from(Refusal::Unframed);
    let audited = refused_early(core, session, None, "", "", &error);
    respond::finish(
        core,
        session,
        Outcome {
            topic: String::new(),
            correlation: String::new(),
            source: "core".into(),
            result: Err(error),
            audited,
        },
    )
}
