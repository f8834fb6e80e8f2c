//! The `callback_data` of an approval card's buttons: `a:<confirmation id>:<args hash>`
//! (approve) or `d:...` (deny), at most 64 bytes as Telegram requires.
//!
//! The id and the hash are copied from `confirmation.requested` and checked to be
//! plain (`[A-Za-z0-9_-]`), so data from a tap is never anything else; the core
//! compares the hash itself, byte for byte.

/// Telegram's limit for `callback_data`.
pub const MAX_CALLBACK_BYTES: usize = 64;

/// What a button decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run the call.
    Approve,
    /// Refuse it.
    Deny,
}

impl Decision {
    /// As `confirm/resolve` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Decision::Approve => "a",
            Decision::Deny => "d",
        }
    }
}

/// A button's decision for one confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// Approve or deny.
    pub decision: Decision,
    /// The confirmation id.
    pub id: String,
    /// The args hash the card was made for.
    pub args_hash: String,
}

impl Button {
    /// The data for `decision` on confirmation `id` with `args_hash`; `None` if either
    /// is not plain or the whole would be over [`MAX_CALLBACK_BYTES`].
    pub fn encode(decision: Decision, id: &str, args_hash: &str) -> Option<String> {
        if !plain(id) || !plain(args_hash) {
            return None;
        }
        let data = format!("{}:{id}:{args_hash}", decision.tag());
        (data.len() <= MAX_CALLBACK_BYTES).then_some(data)
    }

    /// Reads data a tap carried; `None` for anything not made by [`Button::encode`].
    pub fn parse(data: &str) -> Option<Button> {
        if data.len() > MAX_CALLBACK_BYTES {
            return None;
        }
        let mut parts = data.split(':');
        let decision = match parts.next()? {
            "a" => Decision::Approve,
            "d" => Decision::Deny,
            _ => return None,
        };
        let (id, args_hash) = (parts.next()?, parts.next()?);
        if parts.next().is_some() || !plain(id) || !plain(args_hash) {
            return None;
        }
        Some(Button {
            decision,
            id: id.to_owned(),
            args_hash: args_hash.to_owned(),
        })
    }
}

fn plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_and_the_cores_hash_fit_and_come_back() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let hash = "RBNvo1WzZ4oRRq0W9-hkng";
        let data = Button::encode(Decision::Approve, id, hash).expect("fits");
        assert_eq!(data.len(), 61);
        assert_eq!(
            Button::parse(&data),
            Some(Button {
                decision: Decision::Approve,
                id: id.into(),
                args_hash: hash.into()
            })
        );
        let deny = Button::encode(Decision::Deny, id, hash).expect("fits");
        assert_eq!(
            Button::parse(&deny).map(|b| b.decision),
            Some(Decision::Deny)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(
            Button::encode(Decision::Approve, &"x".repeat(61), "h"),
            None
        );
        assert_eq!(Button::encode(Decision::Approve, "a:b", "h"), None);
        for bad in [
            "",
            "a",
            "a:id",
            "x:id:h",
            "a:id:h:more",
            "a::h",
            "a:i d:h",
            "a:id:h\u{202e}",
        ] {
            assert_eq!(Button::parse(bad), None, "{bad:?}");
        }
    }
}
