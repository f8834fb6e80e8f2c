//! What the plugin sends: texts (split and escaped), cards (HTML with buttons), edits,
//! chat actions, answers to taps and documents, each a Bot API method.
//!
//! Every message goes out in the HTML parse mode; if Telegram answers 400 (it could
//! not parse it) the same message is sent again as plain text, so a model's stray
//! markup never loses an answer. Rate limits and network failures are retried by the
//! client's policy.

use serde_json::{json, Value};

use crate::api::multipart::{self, Part};
use crate::api::{ApiError, BotApi, CALL_TIMEOUT};
use crate::html;
use crate::ids::{ChatId, MessageId};
use crate::split::{split, MAX_MESSAGE_UNITS};

/// Sends `text` to `chat` in as many messages as it needs, the first replying to
/// `reply_to`; whitespace-only pieces are skipped (Telegram refuses them). The ids of
/// the messages sent.
pub fn send_text(
    api: &BotApi,
    chat: ChatId,
    text: &str,
    reply_to: Option<MessageId>,
) -> Result<Vec<MessageId>, ApiError> {
    let mut sent = Vec::new();
    for piece in split(text, MAX_MESSAGE_UNITS) {
        if piece.trim().is_empty() {
            continue;
        }
        let reply = if sent.is_empty() { reply_to } else { None };
        sent.push(send_html(api, chat, &html::escape(piece), reply, None)?);
    }
    Ok(sent)
}

/// Sends one HTML message (with inline `keyboard` rows, if any); on a 400, the same
/// as plain text.
pub fn send_html(
    api: &BotApi,
    chat: ChatId,
    html_text: &str,
    reply_to: Option<MessageId>,
    keyboard: Option<&Value>,
) -> Result<MessageId, ApiError> {
    let mut params = json!({
        "chat_id": chat,
        "text": html_text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    });
    if let Some(message) = reply_to {
        params["reply_parameters"] =
            json!({"message_id": message, "allow_sending_without_reply": true});
    }
    if let Some(rows) = keyboard {
        params["reply_markup"] = json!({"inline_keyboard": rows});
    }
    let sent = match api.call("sendMessage", &params) {
        Err(ApiError::BadRequest { .. }) => {
            plain(&mut params, html_text);
            api.call("sendMessage", &params)
        }
        other => other,
    }?;
    message_id(&sent)
}

/// Replaces the text of a message the bot sent (and its buttons: none unless
/// `keyboard`); on a 400, as plain text. Editing to the same text is not an error.
pub fn edit_html(
    api: &BotApi,
    chat: ChatId,
    message: MessageId,
    html_text: &str,
    keyboard: Option<&Value>,
) -> Result<(), ApiError> {
    let mut params = json!({
        "chat_id": chat,
        "message_id": message,
        "text": html_text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    });
    if let Some(rows) = keyboard {
        params["reply_markup"] = json!({"inline_keyboard": rows});
    }
    let edited = match api.call("editMessageText", &params) {
        Err(ApiError::BadRequest { description }) if !unchanged(&description) => {
            plain(&mut params, html_text);
            api.call("editMessageText", &params)
        }
        other => other,
    };
    match edited {
        Ok(_) => Ok(()),
        Err(ApiError::BadRequest { description }) if unchanged(&description) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Sets the buttons under a message to `keyboard` (inline keyboard rows).
pub fn set_buttons(
    api: &BotApi,
    chat: ChatId,
    message: MessageId,
    keyboard: &Value,
) -> Result<(), ApiError> {
    let params = json!({"chat_id": chat, "message_id": message,
                        "reply_markup": {"inline_keyboard": keyboard}});
    match api.call("editMessageReplyMarkup", &params) {
        Err(ApiError::BadRequest { description }) if unchanged(&description) => Ok(()),
        other => other.map(drop),
    }
}

/// Removes the buttons under a message (a card whose text is no longer known).
pub fn remove_buttons(api: &BotApi, chat: ChatId, message: MessageId) -> Result<(), ApiError> {
    let params = json!({"chat_id": chat, "message_id": message,
                        "reply_markup": {"inline_keyboard": []}});
    match api.call("editMessageReplyMarkup", &params) {
        Err(ApiError::BadRequest { description }) if unchanged(&description) => Ok(()),
        other => other.map(drop),
    }
}

/// Shows "typing…" in `chat` once, without retrying (the next renewal is the retry).
pub fn typing(api: &BotApi, chat: ChatId) -> Result<(), ApiError> {
    let params = json!({"chat_id": chat, "action": "typing"});
    let body = crate::api::Body::Json(params.to_string().into_bytes());
    api.once("sendChatAction", &body, CALL_TIMEOUT).map(drop)
}

/// Answers a tap: `text` as a toast, or as an alert the person must dismiss.
pub fn answer_tap(api: &BotApi, tap: &str, text: &str, alert: bool) -> Result<(), ApiError> {
    let params = json!({"callback_query_id": tap, "text": text, "show_alert": alert});
    api.call("answerCallbackQuery", &params).map(drop)
}

/// Sends `bytes` as a file named `filename` to `chat`, replying to `reply_to`.
pub fn send_document(
    api: &BotApi,
    chat: ChatId,
    filename: &str,
    bytes: Vec<u8>,
    caption: &str,
    reply_to: Option<MessageId>,
) -> Result<MessageId, ApiError> {
    let mut parts = vec![
        Part::Text {
            name: "chat_id".into(),
            value: chat.to_string(),
        },
        Part::Text {
            name: "caption".into(),
            value: caption.into(),
        },
    ];
    if let Some(message) = reply_to {
        parts.push(Part::Text {
            name: "reply_parameters".into(),
            value: json!({"message_id": message, "allow_sending_without_reply": true}).to_string(),
        });
    }
    parts.push(Part::File {
        name: "document".into(),
        filename: filename.into(),
        content_type: "application/json".into(),
        bytes,
    });
    let sent = api.call_body("sendDocument", &multipart::encode(&parts))?;
    message_id(&sent)
}

/// `params` turned into the plain-text form of the same message.
fn plain(params: &mut Value, html_text: &str) {
    if let Value::Object(map) = params {
        map.remove("parse_mode");
        map.insert("text".into(), json!(html::to_plain(html_text)));
    }
}

fn unchanged(description: &str) -> bool {
    description.contains("message is not modified")
}

fn message_id(message: &Value) -> Result<MessageId, ApiError> {
    message
        .get("message_id")
        .and_then(Value::as_i64)
        .map(MessageId)
        .ok_or(ApiError::Malformed { status: 200 })
}
