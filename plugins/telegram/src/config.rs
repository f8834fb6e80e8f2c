//! The plugin's `[plugins.telegram.config]` (its manifest's `config_schema`), checked
//! once at `initialize`: which chats map to which group, which users are the owner or
//! contacts, where the Bot API is, and the bounds of polling, typing and retries.
//!
//! Must never accept a base URL that would send the bot token in clear text to
//! anything but this machine, or one carrying user info, a query or a fragment.

use std::collections::BTreeMap;
use std::time::Duration;

use carapace_plugin_sdk::{Init, InitError};
use serde::Deserialize;

use crate::base_url::BaseUrl;
use crate::ids::{ChatId, UserId};

/// The Bot API's address unless configured.
pub const DEFAULT_API_BASE_URL: &str = "https://api.telegram.org";
/// Seconds a `getUpdates` long poll waits unless configured.
pub const DEFAULT_POLL_TIMEOUT_SECS: u64 = 30;
/// Longest long poll allowed (Telegram's own limit is 50).
pub const MAX_POLL_TIMEOUT_SECS: u64 = 50;
/// Seconds the chat shows "typing" at most for one message, unless configured.
pub const DEFAULT_TYPING_MAX_SECS: u64 = 600;
/// Longest wait a `429 retry_after` is honoured for, unless configured.
pub const DEFAULT_MAX_RETRY_WAIT_SECS: u64 = 60;
/// Messages kept per chat for `get_telegram_history`, unless configured.
pub const DEFAULT_HISTORY_PER_CHAT: usize = 200;
/// Most messages kept per chat.
pub const MAX_HISTORY_PER_CHAT: usize = 1000;

/// What a known user counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person Carapace works for: their messages start `owner` sessions, their
    /// taps decide approvals, their `/stop` pauses the group.
    Owner,
    /// Someone the owner lets talk to the agent: `contact` sessions, no taps, no commands.
    Contact,
}

impl Role {
    /// The trust a message of this user carries (`owner` or `contact`).
    pub fn trust(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Contact => "contact",
        }
    }
}

/// The config as the manifest's schema describes it (defaults applied by the core).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_api_base_url")]
    api_base_url: String,
    #[serde(default = "default_poll_timeout_secs")]
    poll_timeout_secs: u64,
    #[serde(default)]
    chats: BTreeMap<String, String>,
    #[serde(default)]
    users: BTreeMap<String, Role>,
    #[serde(default = "default_typing_max_secs")]
    typing_max_secs: u64,
    #[serde(default = "default_max_retry_wait_secs")]
    max_retry_wait_secs: u64,
    #[serde(default = "default_history_per_chat")]
    history_per_chat: usize,
}

fn default_api_base_url() -> String {
    DEFAULT_API_BASE_URL.to_owned()
}
fn default_poll_timeout_secs() -> u64 {
    DEFAULT_POLL_TIMEOUT_SECS
}
fn default_typing_max_secs() -> u64 {
    DEFAULT_TYPING_MAX_SECS
}
fn default_max_retry_wait_secs() -> u64 {
    DEFAULT_MAX_RETRY_WAIT_SECS
}
fn default_history_per_chat() -> usize {
    DEFAULT_HISTORY_PER_CHAT
}

/// The checked config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the Bot API is (`https://api.telegram.org`, or a loopback stand-in).
    pub api_base: BaseUrl,
    /// How long one `getUpdates` waits for news.
    pub poll_timeout: Duration,
    /// Chat id -> the group its messages start sessions in.
    pub chats: BTreeMap<ChatId, String>,
    /// User id -> what the user counts as; anyone else is refused.
    pub users: BTreeMap<UserId, Role>,
    /// Longest "typing" for one message.
    pub typing_max: Duration,
    /// Longest `retry_after` honoured; a longer one gives the send up.
    pub max_retry_wait: Duration,
    /// Messages kept per chat (0 keeps none).
    pub history_per_chat: usize,
}

impl Config {
    /// The config `initialize` carries; anything wrong is a `CONFIG_ERROR`.
    pub fn from_init(init: &Init) -> Result<Config, InitError> {
        let raw: RawConfig = init.config_as()?;
        Config::check(raw).map_err(|why| InitError::config(format!("config: {why}")))
    }

    /// Parses and checks a config object (what `from_init` does, without the SDK).
    pub fn from_json(value: serde_json::Value) -> Result<Config, String> {
        let raw: RawConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Config::check(raw)
    }

    fn check(raw: RawConfig) -> Result<Config, String> {
        let api_base = BaseUrl::parse(&raw.api_base_url)?;
        if !(1..=MAX_POLL_TIMEOUT_SECS).contains(&raw.poll_timeout_secs) {
            return Err(format!(
                "poll_timeout_secs must be between 1 and {MAX_POLL_TIMEOUT_SECS}"
            ));
        }
        if raw.max_retry_wait_secs == 0 {
            return Err("max_retry_wait_secs must be at least 1".into());
        }
        if raw.history_per_chat > MAX_HISTORY_PER_CHAT {
            return Err(format!(
                "history_per_chat must be at most {MAX_HISTORY_PER_CHAT}"
            ));
        }
        let mut chats = BTreeMap::new();
        for (chat, group) in raw.chats {
            let id = ChatId::parse(&chat).ok_or_else(|| {
                format!("chats: `{}` is not a chat id (an integer)", shown(&chat))
            })?;
            if !valid_group_name(&group) {
                return Err(format!(
                    "chats: the group of chat {id} must match [A-Za-z0-9_-]{{1,64}}"
                ));
            }
            chats.insert(id, group);
        }
        let mut users = BTreeMap::new();
        for (user, role) in raw.users {
            let id = UserId::parse(&user).ok_or_else(|| {
                format!(
                    "users: `{}` is not a user id (a positive integer)",
                    shown(&user)
                )
            })?;
            users.insert(id, role);
        }
        Ok(Config {
            api_base,
            poll_timeout: Duration::from_secs(raw.poll_timeout_secs),
            chats,
            users,
            typing_max: Duration::from_secs(raw.typing_max_secs),
            max_retry_wait: Duration::from_secs(raw.max_retry_wait_secs),
            history_per_chat: raw.history_per_chat,
        })
    }

    /// The group `chat` starts sessions in, if it is mapped.
    pub fn group_of(&self, chat: ChatId) -> Option<&str> {
        self.chats.get(&chat).map(String::as_str)
    }

    /// The role of `user`, if known.
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.users.get(&user).copied()
    }

    /// The chats mapped to `group`.
    pub fn chats_of(&self, group: &str) -> Vec<ChatId> {
        self.chats
            .iter()
            .filter(|(_, g)| g.as_str() == group)
            .map(|(chat, _)| *chat)
            .collect()
    }

    /// Whether any chat is mapped to a group (otherwise the plugin stays idle).
    pub fn is_set_up(&self) -> bool {
        !self.chats.is_empty()
    }

    /// Where a card or notice for `group` goes: the owners' private chats mapped
    /// to `group` (a private chat's id is its user's id); if it has none but
    /// has other chats, every owner's private chat mapped to any group; a group
    /// with no chat here, none. Never a group chat or a contact's chat: they
    /// would read the call's arguments, and cannot decide.
    pub fn owner_chats_of(&self, group: &str) -> Vec<ChatId> {
        let owners = |chat: &ChatId| {
            UserId::of_private_chat(*chat)
                .is_some_and(|user| self.role_of(user) == Some(Role::Owner))
        };
        let chats = self.chats_of(group);
        if chats.is_empty() {
            return chats;
        }
        let mine: Vec<ChatId> = chats.into_iter().filter(owners).collect();
        if !mine.is_empty() {
            return mine;
        }
        self.chats.keys().copied().filter(owners).collect()
    }
}

/// Group names as the core allows them.
fn valid_group_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A config key as an error may show it: printable ASCII, at most 32 characters.
fn shown(text: &str) -> String {
    text.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_maps_are_read() {
        let config = Config::from_json(json!({
            "chats": {"111": "main", "-100222": "family"},
            "users": {"111": "owner", "333": "contact"},
        }))
        .expect("valid");
        assert_eq!(config.api_base.as_str(), DEFAULT_API_BASE_URL);
        assert_eq!(config.poll_timeout, Duration::from_secs(30));
        assert_eq!(config.group_of(ChatId(-100222)), Some("family"));
        assert_eq!(config.role_of(UserId(333)), Some(Role::Contact));
        assert_eq!(config.role_of(UserId(444)), None);
        assert_eq!(config.owner_chats_of("main"), vec![ChatId(111)]);
        // No owner's private chat in `family`: the owner's private chats of any
        // group, never the family chat (its members would read the card).
        assert_eq!(config.owner_chats_of("family"), vec![ChatId(111)]);
        let no_owner = Config::from_json(json!({
            "chats": {"333": "main", "-100222": "family"},
            "users": {"111": "owner", "333": "contact"},
        }))
        .expect("valid");
        assert!(
            no_owner.owner_chats_of("main").is_empty(),
            "never a contact's chat"
        );
        assert!(
            config.owner_chats_of("other").is_empty(),
            "no chat of its own"
        );
        assert!(no_owner.owner_chats_of("family").is_empty());
    }

    #[test]
    fn wrong_values_are_refused_by_name() {
        for (config, says) in [
            (json!({"chats": {"abc": "main"}}), "not a chat id"),
            (json!({"chats": {"1": "bad group"}}), "group of chat 1"),
            (json!({"users": {"-5": "owner"}}), "not a user id"),
            (json!({"users": {"5": "admin"}}), "unknown variant"),
            (json!({"poll_timeout_secs": 51}), "between 1 and 50"),
            (json!({"poll_timeout_secs": 0}), "between 1 and 50"),
            (json!({"history_per_chat": 5000}), "at most 1000"),
            (json!({"max_retry_wait_secs": 0}), "at least 1"),
            (json!({"api_base_url": "http://example.org"}), "https"),
            (json!({"surprise": 1}), "unknown field"),
        ] {
            let error = Config::from_json(config.clone()).expect_err("refused");
            assert!(error.contains(says), "{config}: {error}");
        }
    }
}
