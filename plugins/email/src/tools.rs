//! The agent's tools, dispatched by name; every server failure becomes a tool error
//! through `EmailError::to_tool`.

use std::time::{Duration, Instant};

use carapace_plugin_sdk::{typed, CallContext, Level, ToolError};
use serde::Deserialize;
use serde_json::Value;

use crate::connection::limits::Exceeded;
use crate::error::EmailError;
use crate::id::{check_folder, MessageId};
use crate::search::SearchArgs;
use crate::send::SendArgs;
use crate::state::Shared;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveArgs {
    id: String,
    folder: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// Answers one tool call.
pub fn call(
    shared: &Shared,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<Value, ToolError> {
    let failed = |what: &str, error: EmailError| {
        ctx.log(
            Level::Warn,
            format!("email.{tool}_failed kind={}", error.kind()),
        );
        error.to_tool(what)
    };
    match tool {
        "email_search" => {
            let args: SearchArgs = typed(arguments)?;
            shared
                .imap
                .with(|live| crate::search::run(live, &args))
                .map_err(|e| failed("searching", e))?
        }
        "email_read" => {
            let args: ReadArgs = typed(arguments)?;
            let id = MessageId::parse(&args.id)?;
            let read = |listing| {
                shared
                    .imap
                    .with(|live| crate::read::run(live, &id, shared.config.max_body_chars, listing))
            };
            // A structure nested past the IMAP parser's bound (a new session
            // then): read again, listing attachments from the fetched message.
            match read(crate::read::Listing::Server) {
                Err(EmailError::Unreadable(why)) if why == Exceeded::Depth.kind() => {
                    read(crate::read::Listing::Fetched)
                }
                other => other,
            }
            .map_err(|e| failed("reading", e))
        }
        "email_move" => {
            let args: MoveArgs = typed(arguments)?;
            let id = MessageId::parse(&args.id)?;
            check_folder(&args.folder).map_err(|why| ToolError::invalid("folder", why))?;
            // A kept session the server closed meanwhile is replaced here, where
            // a repeat costs nothing; the move itself is run once only.
            let until = call_deadline(ctx);
            shared
                .imap
                .with_by(until, |live| {
                    live.command().noop().map_err(crate::error::from_imap)
                })
                .and_then(|()| {
                    shared.imap.once_by(until, |live| {
                        crate::folders::move_to(live, &id, &args.folder)
                    })
                })
                .map_err(|e| failed("moving the message", e))
        }
        "email_list_folders" => {
            let _: NoArgs = typed(arguments)?;
            shared
                .imap
                .with(crate::folders::list)
                .map_err(|e| failed("listing folders", e))
        }
        "email_send" => {
            let args: SendArgs = typed(arguments)?;
            let outgoing = crate::send::build(&shared.config, &args)?;
            // The whole call, the Sent copy too, ends before the core stops
            // waiting for it, with a margin for the answer's way back.
            let until = call_deadline(ctx);
            let mut sent =
                crate::smtp::submit(&shared.config, &shared.credentials, &outgoing, until)
                    .map_err(|e| failed("sending", e))?;
            ctx.log(
                Level::Info,
                format!("email.sent recipients={}", outgoing.recipients.len()),
            );
            // The mail is gone: from here on nothing fails the call.
            let (kept, failure) =
                crate::sent::keep(&shared.imap, &shared.sent_folder, &outgoing.raw, until);
            if let Some(kind) = failure {
                ctx.log(Level::Warn, format!("email.sent_not_saved kind={kind}"));
            }
            if let (Some(answer), Value::Object(fields)) = (sent.as_object_mut(), kept) {
                answer.extend(fields);
            }
            Ok(sent)
        }
        other => Err(ToolError::new(format!("unknown tool `{other}`"))),
    }
}

/// Time kept back from the core's deadline for the answer's way back.
const ANSWER_MARGIN: Duration = Duration::from_millis(1500);

/// When this call's work must be done: the core's deadline less the margin.
fn call_deadline(ctx: &CallContext) -> Option<Instant> {
    ctx.deadline()
        .map(|deadline| deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline))
}
