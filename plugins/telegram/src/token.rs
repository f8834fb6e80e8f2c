//! The bot token: read from the plugin's credential `bot_token`, checked, and kept
//! where nothing prints it.
//!
//! Must never appear in an error, a log line, a `Debug` output or a panic: it is the
//! bot's whole identity, and it travels in the URL path of every Bot API request.

use std::fmt;

use carapace_plugin_sdk::{Init, InitError};

/// The credential's name in the manifest.
pub const CREDENTIAL: &str = "bot_token";

/// A checked bot token (`<bot id>:<secret>`); `Debug` and `Display` do not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// Reads and checks the `bot_token` credential. A missing one is `AUTH_ERROR`;
    /// one that is not shaped like a token (which could bend the URL path) too,
    /// without saying what it holds.
    pub fn from_init(init: &Init) -> Result<BotToken, InitError> {
        let secret = init.credential(CREDENTIAL)?;
        BotToken::parse(secret.expose().trim()).ok_or_else(|| {
            InitError::auth(
                "credential `bot_token` is not a bot token (`<digits>:<letters, digits, _ or ->` from BotFather)",
            )
        })
    }

    /// `[0-9]{1,20}:[A-Za-z0-9_-]{20,128}`, else `None`.
    pub fn parse(text: &str) -> Option<BotToken> {
        let (id, secret) = text.split_once(':')?;
        let id_ok = (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = (20..=128).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        (id_ok && secret_ok).then(|| BotToken(text.to_owned()))
    }

    /// The token itself, for the one place that builds a request URL.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_shapes_pass_and_none_is_shown() {
        let token = BotToken::parse("123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_-abc").expect("valid");
        assert!(!format!("{token:?}").contains("ABCDEF"));
        for bad in [
            "",
            "123456",
            "abc:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "123:short",
            "123:ABCDEFGHIJKLMNOPQRSTUVWXYZ/../x",
            "123:ABCDEFGHIJKLMNOPQRSTUVWXYZ?x=1",
            "123:ABCDEFGHIJKLMNOPQRST UVWXYZ",
        ] {
            assert!(BotToken::parse(bad).is_none(), "{bad}");
        }
    }
}
