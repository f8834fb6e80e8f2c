//! What the core's answer to one fire's acknowledged `event/publish` makes of
//! the fire. Pure: the runner sends, this decides, the store records.
//!
//! - answered `{}`: the core took the fire id and queued its session: published;
//! - `FIRE_TAKEN`: the core took it before (an answer lost to a crash): published;
//! - `GROUP_PAUSED` (with the paused set's generation): refused for good, as
//!   every slot of a paused group is: skipped, and the group is paused here too;
//! - any other refusal the core gives for good (`NOT_ALLOWED`, `NOT_CAPABLE`,
//!   `NOT_SERVED`, `NO_FIRE_ID`, `NO_TASK_ID`, `NO_PROMPT`, `INVALID_PARAMS`):
//!   skipped with that code, said loudly;
//! - no answer in time, `BUSY`, `RATE_LIMITED`, or a code this plugin does not
//!   know: whether the core has it is unknown: it stays pending and is sent
//!   again (the core takes each fire id once);
//! - the connection is gone: it stays pending, sent again at the next start.
//!
//! Must never mark a fire published the core has not answered for.

use carapace_plugin_sdk::CoreError;

/// The refusals the core gives for good: sending the fire again would not help.
const FINAL_REFUSALS: [&str; 8] = [
    "GROUP_PAUSED",
    "NOT_ALLOWED",
    "NOT_CAPABLE",
    "NOT_SERVED",
    "NO_FIRE_ID",
    "NO_TASK_ID",
    "NO_PROMPT",
    "INVALID_PARAMS",
];

/// What becomes of a fire after the core's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The core has it: `started` now, or `FIRE_TAKEN` before.
    Published(&'static str),
    /// The core refused it for good: its code, and for `GROUP_PAUSED` the generation.
    Refused {
        /// The core's code.
        code: &'static str,
        /// The paused set's generation of a `GROUP_PAUSED`.
        generation: Option<u64>,
    },
    /// Unknown whether the core has it: send it again later (why, for the log).
    Later(String),
    /// The core is gone: send it again at the next start.
    Gone,
}

/// The verdict on `answer`, the result of `CoreLink::publish_acked`.
pub fn verdict(answer: Result<(), CoreError>) -> Verdict {
    match answer {
        Ok(()) => Verdict::Published("started"),
        Err(CoreError::Rejected(refusal)) => {
            let code = refusal.data_str("code").unwrap_or("");
            if code == "FIRE_TAKEN" {
                return Verdict::Published("FIRE_TAKEN");
            }
            match FINAL_REFUSALS.iter().find(|known| **known == code) {
                Some(code) => Verdict::Refused {
                    code,
                    generation: refusal
                        .data
                        .as_ref()
                        .and_then(|data| data.get("generation"))
                        .and_then(serde_json::Value::as_u64),
                },
                None => Verdict::Later(format!(
                    "the core answered {}",
                    code.chars().take(32).collect::<String>().escape_debug()
                )),
            }
        }
        Err(CoreError::TooLarge(_)) => Verdict::Refused {
            code: "TOO_LARGE",
            generation: None,
        },
        Err(CoreError::Timeout(after)) => {
            Verdict::Later(format!("no answer from the core within {after:?}"))
        }
        Err(CoreError::Disconnected) => Verdict::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carapace_plugin_sdk::JsonRpcError;
    use serde_json::json;

    fn refused(data: serde_json::Value) -> Result<(), CoreError> {
        Err(CoreError::Rejected(JsonRpcError {
            code: -32000,
            message: "no".into(),
            data: Some(data),
        }))
    }

    #[test]
    fn only_the_cores_answer_marks_a_fire_published() {
        assert_eq!(verdict(Ok(())), Verdict::Published("started"));
        assert_eq!(
            verdict(refused(json!({"code": "FIRE_TAKEN"}))),
            Verdict::Published("FIRE_TAKEN")
        );
        assert_eq!(
            verdict(refused(json!({"code": "GROUP_PAUSED", "generation": 3}))),
            Verdict::Refused {
                code: "GROUP_PAUSED",
                generation: Some(3)
            }
        );
        assert_eq!(
            verdict(refused(json!({"code": "NOT_ALLOWED"}))),
            Verdict::Refused {
                code: "NOT_ALLOWED",
                generation: None
            }
        );
        for later in [
            refused(json!({"code": "RATE_LIMITED"})),
            refused(json!({"code": "BUSY"})),
            refused(json!({"code": "SOMETHING_NEW"})),
            refused(json!({})),
            Err(CoreError::Timeout(std::time::Duration::from_secs(30))),
        ] {
            assert!(matches!(verdict(later), Verdict::Later(_)));
        }
        assert_eq!(verdict(Err(CoreError::Disconnected)), Verdict::Gone);
    }
}
