//! The one map from what went wrong inside the core to what the agent sees.
//!
//! Every [`ErrorBody`] the core sends to a container is built here, from a
//! [`Refusal`]: its public code, stage, retriable flag, field and message. The
//! match is exhaustive (no `_` arm), so a new way to fail cannot reach the
//! agent without a row in this table (and in `docs/security.md`, "Error
//! codes"). The stages, the plugin host, the router and the response path
//! return a `Refusal`; none of them builds an `ErrorBody` itself.
//!
//! What this file must never do: put a path, a plugin's stderr, a backtrace or
//! an unredacted plugin message into a message, or let a plugin choose a code
//! of the core's. A plugin's own error is `HANDLER_ERROR`, unless it is one of
//! the two a tool may choose (`RATE_LIMITED`, `VALIDATION_FAILED`); those carry
//! no stage (no stage of the core refused the call) and no `retry_after`.

use std::time::Duration;

use carapace_ipc::{ErrorBody, ErrorCode, WireError};

/// Why the core refused or failed a call, before it becomes the agent's [`ErrorBody`].
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Stage 1: the bounded wire parser refused the message (`MALFORMED_MESSAGE`
    /// or `PAYLOAD_TOO_LARGE`, with the offending field).
    Wire(WireError),
    /// Stage 1: the message's ZeroMQ frames had an unexpected shape.
    Unframed,
    /// Stage 2: the topic names no tool in the catalog (shown cut and without controls).
    UnknownTool {
        /// The topic as it may be shown.
        shown: String,
    },
    /// Stage 6: the catalog routed to an intrinsic tool that does not exist.
    UnknownIntrinsic {
        /// The tool's name.
        name: String,
    },
    /// Stage 3: an argument does not pass the tool's schema.
    InvalidArgument {
        /// The offending property, dotted.
        field: String,
        /// What is wrong with it, already cut to length.
        message: String,
    },
    /// Stage 4: the session's group may not call the tool.
    NotAllowed {
        /// The session's group.
        group: String,
        /// The tool.
        tool: String,
    },
    /// Stage 4: the session is over its rate limit for the tool.
    RateLimited {
        /// The tool.
        tool: String,
        /// Seconds until a token is free.
        retry_after: u64,
    },
    /// Stage 4 (and stage 5 after an approval): the session's group is paused.
    GroupPaused {
        /// The group.
        group: String,
    },
    /// Stage 5: the person denied the high-risk call.
    Denied {
        /// The tool.
        tool: String,
    },
    /// Stage 5: nobody decided on the high-risk call in time.
    NotApproved {
        /// The tool.
        tool: String,
        /// How long the core waited.
        waited: Duration,
    },
    /// Stage 6: the `request.routed` line could not be written, so the call does not run.
    AuditUnavailable,
    /// Stage 6: the owning plugin is not running.
    PluginNotRunning {
        /// The plugin.
        plugin: String,
    },
    /// Stage 6: the call's deadline passed before the plugin answered.
    PluginTimedOut {
        /// The deadline.
        deadline: Duration,
        /// How far the call got: whether the plugin had it, and whether the tool may have acted.
        unanswered: Unanswered,
    },
    /// Stage 6: the plugin process failed while handling the call (details in the audit log).
    PluginBroke,
    /// The tool's handler reported an error of its own.
    ToolFailed {
        /// The handler's message, redacted and cut where it came in.
        message: String,
        /// Whether the handler says a retry may succeed.
        retriable: bool,
    },
    /// The tool's handler says a limit it keeps is reached (`RATE_LIMITED`, retriable).
    ToolRateLimited {
        /// The handler's message, redacted and cut where it came in.
        message: String,
    },
    /// The handler says an argument that passed the schema breaks its own rules
    /// (`VALIDATION_FAILED`, not retriable).
    ToolInvalid {
        /// The handler's message, redacted and cut where it came in.
        message: String,
        /// The argument it names: plain, redacted and cut where it came in.
        field: Option<String>,
    },
    /// The response path: the tool's answer is over the message limit.
    AnswerTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// How far a call got when its deadline passed (`PLUGIN_TIMEOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// It waited for one of the plugin's in-flight slots all along: the plugin
    /// never saw it, nothing was done, and a retry is safe.
    Busy,
    /// The plugin had the call and did not answer in time.
    Silent {
        /// Whether the tool may still have acted. The plugin host cannot know
        /// and says `true`; routing clears it for a tool declared `read_only`.
        may_have_acted: bool,
    },
}

impl From<Refusal> for ErrorBody {
    fn from(refusal: Refusal) -> ErrorBody {
        match refusal {
            Refusal::Wire(error) => error.to_body(),
            Refusal::Unframed => ErrorBody::new(
                ErrorCode::MalformedMessage,
                "send exactly one frame holding the JSON request",
            ),
            Refusal::UnknownTool { shown } => ErrorBody::new(
                ErrorCode::UnknownTool,
                format!("no tool for topic `{shown}`; call list_tools to see what exists"),
            )
            .with_field("topic"),
            Refusal::UnknownIntrinsic { name } => ErrorBody::new(
                ErrorCode::UnknownTool,
                format!("`{name}` is not an intrinsic tool"),
            ),
            Refusal::InvalidArgument { field, message } => {
                ErrorBody::new(ErrorCode::ValidationFailed, message).with_field(field)
            }
            Refusal::NotAllowed { group, tool } => ErrorBody::new(
                ErrorCode::Unauthorized,
                format!("group `{group}` may not call `{tool}`"),
            ),
            Refusal::RateLimited { tool, retry_after } => ErrorBody::new(
                ErrorCode::RateLimited,
                format!("rate limit for `{tool}` reached; retry in {retry_after} s"),
            )
            .with_retry_after(retry_after),
            Refusal::GroupPaused { group } => ErrorBody::new(
                ErrorCode::GroupPaused,
                format!("group `{group}` is paused; no call runs until the person resumes it"),
            ),
            Refusal::Denied { tool } => ErrorBody::new(
                ErrorCode::ConfirmationDenied,
                format!("the user denied the call to `{tool}`"),
            ),
            Refusal::NotApproved { tool, waited } => ErrorBody::new(
                ErrorCode::ConfirmationTimeout,
                format!(
                    "nobody approved the call to `{tool}` within {} s",
                    waited.as_secs()
                ),
            ),
            Refusal::AuditUnavailable => ErrorBody::new(
                ErrorCode::AuditUnavailable,
                "the audit log cannot be written right now, so no call runs; try again later",
            ),
            Refusal::PluginNotRunning { plugin } => ErrorBody::new(
                ErrorCode::PluginUnavailable,
                format!("plugin `{plugin}` is not running"),
            ),
            Refusal::PluginTimedOut {
                deadline,
                unanswered,
            } => {
                let secs = deadline.as_secs();
                match unanswered {
                    Unanswered::Busy => ErrorBody::new(
                        ErrorCode::PluginTimeout,
                        format!(
                            "the plugin was busy and the tool did not start within {secs} s; \
                             nothing was done, so trying again is safe"
                        ),
                    ),
                    Unanswered::Silent {
                        may_have_acted: false,
                    } => ErrorBody::new(
                        ErrorCode::PluginTimeout,
                        format!("the tool did not answer within {secs} s"),
                    ),
                    // The call reached a tool that may write: repeating it could act twice.
                    Unanswered::Silent {
                        may_have_acted: true,
                    } => ErrorBody {
                        retriable: false,
                        ..ErrorBody::new(
                            ErrorCode::PluginTimeout,
                            format!(
                                "the tool did not answer within {secs} s; it may still have \
                                 acted: do not repeat it without checking (or asking the person)"
                            ),
                        )
                    },
                }
            }
            Refusal::PluginBroke => ErrorBody::new(
                ErrorCode::PluginError,
                "the plugin failed while handling the call",
            ),
            Refusal::ToolFailed { message, retriable } => ErrorBody {
                retriable,
                ..ErrorBody::new(ErrorCode::HandlerError, message)
            },
            // Built whole: the code's own stage (4, 3) would say a core stage refused it.
            Refusal::ToolRateLimited { message } => ErrorBody {
                retriable: true,
                stage: None,
                ..ErrorBody::new(ErrorCode::RateLimited, message)
            },
            Refusal::ToolInvalid { message, field } => ErrorBody {
                retriable: false,
                stage: None,
                field,
                ..ErrorBody::new(ErrorCode::ValidationFailed, message)
            },
            Refusal::AnswerTooLarge { limit } => ErrorBody::new(
                ErrorCode::HandlerError,
                format!("the tool's answer is over the {limit}-byte limit"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant. The match below has no `_` arm: a new variant
    /// does not compile until it is added here and given its row.
    fn every_refusal() -> Vec<Refusal> {
        let all = vec![
            Refusal::Wire(carapace_ipc::parse_request(b"{").expect_err("not a request")),
            Refusal::Unframed,
            Refusal::UnknownTool {
                shown: "tool.invoke.nope".into(),
            },
            Refusal::UnknownIntrinsic {
                name: "nope".into(),
            },
            Refusal::InvalidArgument {
                field: "a.b".into(),
                message: "argument `a.b`: bad".into(),
            },
            Refusal::NotAllowed {
                group: "main".into(),
                tool: "send".into(),
            },
            Refusal::RateLimited {
                tool: "send".into(),
                retry_after: 3,
            },
            Refusal::GroupPaused {
                group: "main".into(),
            },
            Refusal::Denied {
                tool: "send".into(),
            },
            Refusal::NotApproved {
                tool: "send".into(),
                waited: Duration::from_secs(60),
            },
            Refusal::AuditUnavailable,
            Refusal::PluginNotRunning {
                plugin: "mail".into(),
            },
            Refusal::PluginTimedOut {
                deadline: Duration::from_secs(30),
                unanswered: Unanswered::Busy,
            },
            Refusal::PluginTimedOut {
                deadline: Duration::from_secs(30),
                unanswered: Unanswered::Silent {
                    may_have_acted: false,
                },
            },
            Refusal::PluginTimedOut {
                deadline: Duration::from_secs(30),
                unanswered: Unanswered::Silent {
                    may_have_acted: true,
                },
            },
            Refusal::PluginBroke,
            Refusal::ToolFailed {
                message: "no such mailbox".into(),
                retriable: true,
            },
            Refusal::ToolRateLimited {
                message: "20 stores in this session".into(),
            },
            Refusal::ToolInvalid {
                message: "no such time zone".into(),
                field: Some("tz".into()),
            },
            Refusal::AnswerTooLarge { limit: 1 << 20 },
        ];
        for refusal in &all {
            match refusal {
                Refusal::Wire(_)
                | Refusal::Unframed
                | Refusal::UnknownTool { .. }
                | Refusal::UnknownIntrinsic { .. }
                | Refusal::InvalidArgument { .. }
                | Refusal::NotAllowed { .. }
                | Refusal::RateLimited { .. }
                | Refusal::GroupPaused { .. }
                | Refusal::Denied { .. }
                | Refusal::NotApproved { .. }
                | Refusal::AuditUnavailable
                | Refusal::PluginNotRunning { .. }
                | Refusal::PluginTimedOut {
                    unanswered: Unanswered::Busy | Unanswered::Silent { .. },
                    ..
                }
                | Refusal::PluginBroke
                | Refusal::ToolFailed { .. }
                | Refusal::ToolRateLimited { .. }
                | Refusal::ToolInvalid { .. }
                | Refusal::AnswerTooLarge { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_refusal_has_its_public_code_stage_and_retriability() {
        use ErrorCode::*;
        // (code, stage, retriable, field) per variant, in the order above: the
        // table docs/security.md lists.
        let expected: &[(ErrorCode, Option<u8>, bool, Option<&str>)] = &[
            (MalformedMessage, None, false, None),
            (MalformedMessage, None, false, None),
            (UnknownTool, Some(2), false, Some("topic")),
            (UnknownTool, Some(2), false, None),
            (ValidationFailed, Some(3), false, Some("a.b")),
            (Unauthorized, Some(4), false, None),
            (RateLimited, Some(4), true, None),
            (GroupPaused, Some(4), false, None),
            (ConfirmationDenied, Some(5), false, None),
            (ConfirmationTimeout, Some(5), true, None),
            (AuditUnavailable, Some(6), true, None),
            (PluginUnavailable, Some(6), true, None),
            (PluginTimeout, Some(6), true, None),
            (PluginTimeout, Some(6), true, None),
            (PluginTimeout, Some(6), false, None),
            (PluginError, Some(6), false, None),
            (HandlerError, None, true, None),
            (RateLimited, None, true, None),
            (ValidationFailed, None, false, Some("tz")),
            (HandlerError, None, false, None),
        ];
        let all = every_refusal();
        assert_eq!(all.len(), expected.len());
        for (refusal, (code, stage, retriable, field)) in all.into_iter().zip(expected) {
            let shown = format!("{refusal:?}");
            let body = ErrorBody::from(refusal);
            assert_eq!(body.code, *code, "{shown}");
            assert_eq!(body.stage, *stage, "{shown}");
            assert_eq!(body.retriable, *retriable, "{shown}");
            assert_eq!(body.field.as_deref(), *field, "{shown}");
            assert!(!body.message.is_empty(), "{shown}");
            assert!(!body.message.contains('/'), "no path in a message: {shown}");
        }
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let body = ErrorBody::from(Refusal::RateLimited {
            tool: "t".into(),
            retry_after: 7,
        });
        assert_eq!(body.retry_after, Some(7));
        assert_eq!(body.message, "rate limit for `t` reached; retry in 7 s");
    }

    #[test]
    fn a_timeout_says_whether_the_tool_started_and_may_have_acted() {
        let body = |unanswered| {
            ErrorBody::from(Refusal::PluginTimedOut {
                deadline: Duration::from_secs(7),
                unanswered,
            })
        };
        let busy = body(Unanswered::Busy);
        assert!(busy.retriable);
        assert!(
            busy.message.contains("busy") && busy.message.contains("did not start within 7 s"),
            "{}",
            busy.message
        );
        let read = body(Unanswered::Silent {
            may_have_acted: false,
        });
        assert!(read.retriable);
        assert_eq!(read.message, "the tool did not answer within 7 s");
        let acted = body(Unanswered::Silent {
            may_have_acted: true,
        });
        assert!(!acted.retriable);
        assert_eq!(
            acted.message,
            "the tool did not answer within 7 s; it may still have acted: do not repeat it \
             without checking (or asking the person)"
        );
    }
}
