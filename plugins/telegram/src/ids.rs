//! Telegram's numeric ids, typed so that a chat is never taken for a user or a message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A chat: positive for a private chat (the user's id), negative for groups and channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatId(pub i64);

/// A user (always positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A message within its chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub i64);

impl ChatId {
    /// `-?[0-9]{1,19}` that fits an `i64` and is not 0.
    pub fn parse(text: &str) -> Option<ChatId> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|id| *id != 0).map(ChatId)
    }
}

impl UserId {
    /// `[0-9]{1,19}` that fits an `i64` and is not 0.
    pub fn parse(text: &str) -> Option<UserId> {
        if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|id| *id > 0).map(UserId)
    }

    /// The user whose private chat `chat` is, if it is one.
    pub fn of_private_chat(chat: ChatId) -> Option<UserId> {
        (chat.0 > 0).then_some(UserId(chat.0))
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_strictly() {
        assert_eq!(ChatId::parse("-1001234"), Some(ChatId(-1001234)));
        assert_eq!(ChatId::parse("42"), Some(ChatId(42)));
        for bad in [
            "",
            "-",
            "0",
            "+5",
            "1e3",
            " 5",
            "99999999999999999999",
            "--1",
        ] {
            assert_eq!(ChatId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(UserId::parse("777"), Some(UserId(777)));
        assert_eq!(UserId::parse("-777"), None);
        assert_eq!(UserId::of_private_chat(ChatId(5)), Some(UserId(5)));
        assert_eq!(UserId::of_private_chat(ChatId(-5)), None);
    }
}
