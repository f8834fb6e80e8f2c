//! The agent's tools: `send_telegram {chat, text}` and `get_telegram_history {chat?, limit?}`
//! (without `chat`: the group's chats).
//!
//! Both act only on a chat the config maps to the calling session's group (the
//! envelope's group, from the core's session table); any other chat is
//! `VALIDATION_FAILED` on `chat`, without saying which group it belongs to, if any.
//! `send_telegram` is high risk in the manifest: the person approves every call (the
//! core has no per-call risk, so it is high risk even to the chat the session came
//! from).

use carapace_plugin_sdk::{typed, CallContext, Level, ToolError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::ApiError;
use crate::clock;
use crate::deliver::record_sent;
use crate::ids::ChatId;
use crate::outbound;
use crate::state::Shared;

/// Messages `get_telegram_history` answers unless asked for fewer or more.
pub const DEFAULT_HISTORY_LIMIT: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    chat: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryArgs {
    #[serde(default)]
    chat: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// Answers one tool call.
pub fn call(
    shared: &Shared,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<Value, ToolError> {
    match tool {
        "send_telegram" => {
            let args: SendArgs = typed(arguments)?;
            let chat = chat_of_group(shared, ctx, &args.chat)?;
            if args.text.trim().is_empty() {
                return Err(ToolError::invalid("text", "the text is empty"));
            }
            let sent = outbound::send_text(&shared.tool_api, chat, &args.text, None)
                .map_err(|error| not_sent(shared, chat, &error))?;
            record_sent(shared, chat, &sent, &args.text);
            Ok(json!({"chat": args.chat, "sent": sent, "messages": sent.len()}))
        }
        "get_telegram_history" => {
            let args: HistoryArgs = typed(arguments)?;
            let Some(named) = args.chat else {
                let chats: Vec<String> = shared
                    .config
                    .chats_of(ctx.group())
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                return Ok(json!({"chats": chats}));
            };
            let chat = chat_of_group(shared, ctx, &named)?;
            // An owner's private chat is read only by the owner's own sessions: a
            // contact's session would otherwise read it out to the contact.
            let owners_chat = crate::ids::UserId::of_private_chat(chat).is_some_and(|user| {
                shared.config.role_of(user) == Some(crate::config::Role::Owner)
            });
            if owners_chat && !ctx.origin().is_some_and(|o| o.is_owner()) {
                return Err(ToolError::invalid(
                    "chat",
                    "the owner's private chat is read only in sessions the owner started",
                ));
            }
            let limit = args.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
            let entries = shared.history.recent(chat, limit).map_err(|e| {
                shared.log(
                    Level::Error,
                    format!("telegram.history_unreadable error={e}"),
                );
                ToolError::new("the history could not be read")
            })?;
            let messages: Vec<Value> = entries
                .into_iter()
                .map(|entry| {
                    json!({
                        "message_id": entry.message_id,
                        "date": clock::rfc3339(entry.date),
                        "direction": entry.direction,
                        "from": entry.name,
                        "user_id": entry.user,
                        "trust": entry.trust,
                        "text": entry.text,
                    })
                })
                .collect();
            Ok(json!({"chat": named, "messages": messages}))
        }
        other => Err(ToolError::new(format!("unknown tool `{other}`"))),
    }
}

/// The chat `text` names, if the config maps it to the calling session's group.
fn chat_of_group(shared: &Shared, ctx: &CallContext, text: &str) -> Result<ChatId, ToolError> {
    let refused = || ToolError::invalid("chat", "not a chat of this group");
    let chat = ChatId::parse(text).ok_or_else(refused)?;
    if shared.config.group_of(chat) != Some(ctx.group()) {
        return Err(refused());
    }
    Ok(chat)
}

/// What the agent is told when Telegram did not take a message (logged in full).
fn not_sent(shared: &Shared, chat: ChatId, error: &ApiError) -> ToolError {
    shared.log(
        Level::Warn,
        format!("telegram.send_failed chat={chat} error={error}"),
    );
    match error {
        ApiError::RateLimited { .. } | ApiError::Transport(_) | ApiError::Server { .. } => {
            ToolError::retriable("Telegram did not take the message now; try again later")
        }
        ApiError::BadRequest { .. } | ApiError::Refused { .. } | ApiError::Malformed { .. } => {
            ToolError::new("Telegram refused the message")
        }
    }
}
