//! The parts of Telegram's `Update` this plugin reads: text messages and button taps.
//!
//! Parsed leniently: an update of another kind, or with fields this plugin does not
//! need, is still an update (its id advances the offset); nothing here panics.

use serde::Deserialize;
use serde_json::Value;

use crate::ids::{ChatId, MessageId, UserId};

/// One update, as far as this plugin cares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Update {
    /// The update's id: the next poll asks from one past it.
    pub update_id: i64,
    /// A new message.
    #[serde(default)]
    pub message: Option<Message>,
    /// A tap on an inline button.
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
}

/// A message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// Its id in its chat.
    pub message_id: MessageId,
    /// Who sent it (absent for channel posts).
    #[serde(default)]
    pub from: Option<User>,
    /// Where.
    pub chat: Chat,
    /// When (Unix seconds).
    #[serde(default)]
    pub date: i64,
    /// Its text, if it is a text message.
    #[serde(default)]
    pub text: Option<String>,
    /// Set when the message is forwarded (Bot API 7: who wrote it first).
    #[serde(default)]
    pub forward_origin: Option<Value>,
    /// Set when the message is forwarded (older Bot API versions).
    #[serde(default)]
    pub forward_date: Option<i64>,
    /// Set when the message was sent through an inline bot.
    #[serde(default)]
    pub via_bot: Option<Value>,
}

impl Message {
    /// Whether someone else wrote it: forwarded, or sent through an inline bot.
    /// Its words are then not the sender's, whoever forwarded them.
    pub fn is_relayed(&self) -> bool {
        self.forward_origin.is_some() || self.forward_date.is_some() || self.via_bot.is_some()
    }
}

/// A chat.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Chat {
    /// Its id.
    pub id: ChatId,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Whether it is a bot.
    #[serde(default)]
    pub is_bot: bool,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// `@username` without the `@`.
    #[serde(default)]
    pub username: Option<String>,
}

impl User {
    /// A short name to show: first and last name, else `@username`, else `user <id>`;
    /// invisible and control characters dropped, at most 64 characters.
    pub fn display_name(&self) -> String {
        let full = match &self.last_name {
            Some(last) if !last.is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        };
        let full = if full.trim().is_empty() {
            self.username
                .as_ref()
                .map(|u| format!("@{u}"))
                .unwrap_or_default()
        } else {
            full
        };
        let plain: String = full
            .chars()
            .filter(|c| !c.is_control() && !crate::html::is_invisible(*c))
            .take(64)
            .collect();
        let plain = plain.trim();
        if plain.is_empty() {
            format!("user {}", self.id)
        } else {
            plain.to_owned()
        }
    }
}

/// A tap on an inline button.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallbackQuery {
    /// The id to answer.
    pub id: String,
    /// Who tapped.
    pub from: User,
    /// The message the button was on (absent if too old).
    #[serde(default)]
    pub message: Option<ButtonMessage>,
    /// The button's data.
    #[serde(default)]
    pub data: Option<String>,
}

/// The message a tapped button was on: only where it is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ButtonMessage {
    /// Its id.
    pub message_id: MessageId,
    /// Its chat.
    pub chat: Chat,
}

/// The update's id, even when the rest of it cannot be read.
pub fn update_id(raw: &Value) -> Option<i64> {
    raw.get("update_id").and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_and_taps_are_read_and_the_rest_ignored() {
        let update: Update = serde_json::from_value(json!({
            "update_id": 10,
            "message": {"message_id": 5, "date": 1, "text": "hi",
                        "from": {"id": 7, "is_bot": false, "first_name": "Ann\u{202e}", "last_name": "Lee"},
                        "chat": {"id": 7, "type": "private"}, "entities": []},
        }))
        .expect("update");
        let message = update.message.expect("message");
        assert_eq!(message.text.as_deref(), Some("hi"));
        assert_eq!(message.from.expect("from").display_name(), "Ann Lee");
        let other: Update =
            serde_json::from_value(json!({"update_id": 11, "poll": {"id": "x"}})).expect("update");
        assert!(other.message.is_none() && other.callback_query.is_none());
        let nameless = User {
            id: UserId(3),
            is_bot: false,
            first_name: " ".into(),
            last_name: None,
            username: None,
        };
        assert_eq!(nameless.display_name(), "user 3");
        assert_eq!(update_id(&json!({"update_id": 12, "message": 5})), Some(12));
    }
}
