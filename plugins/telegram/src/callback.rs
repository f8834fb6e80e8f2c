//! The `callback_data` of the cards' buttons, at most 64 bytes as Telegram requires:
//! an approval card's `a:<confirmation id>:<args hash>` (approve) or `d:...` (deny),
//! and a budget card's `b:<card id>:<tokens>` ("allow that many more today"; 0:
//! "leave it").
//!
//! The id and the hash are copied from `confirmation.requested` and checked to be
//! plain (`[A-Za-z0-9_-]`), so data from a tap is never anything else; the core
//! compares the hash itself, byte for byte. A budget button's data binds nothing by
//! itself: the card id names a record this plugin keeps of what it offered (group,
//! task, amounts), and the tokens must be one of those amounts (`budgets`).

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

/// A budget card's button: the card and the tokens it offers (0: leave it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetChoice {
    /// The card's id (this plugin's, from its record of offered cards).
    pub card: String,
    /// Tokens to allow more today; 0 for "leave it".
    pub tokens: u64,
}

impl BudgetChoice {
    /// The data for `tokens` on card `card`; `None` if the id is not plain or the
    /// whole would be over [`MAX_CALLBACK_BYTES`].
    pub fn encode(card: &str, tokens: u64) -> Option<String> {
        let data = format!("b:{card}:{tokens}");
        (plain(card) && data.len() <= MAX_CALLBACK_BYTES).then_some(data)
    }

    /// Reads data a tap carried; `None` for anything not made by [`BudgetChoice::encode`].
    pub fn parse(data: &str) -> Option<BudgetChoice> {
        if data.len() > MAX_CALLBACK_BYTES {
            return None;
        }
        let mut parts = data.split(':');
        if parts.next()? != "b" {
            return None;
        }
        let (card, tokens) = (parts.next()?, parts.next()?);
        if parts.next().is_some()
            || !plain(card)
            || tokens.is_empty()
            || tokens.len() > 19
            || !tokens.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(BudgetChoice {
            card: card.to_owned(),
            tokens: tokens.parse().ok()?,
        })
    }
}

/// What a tap's data is: one of the two kinds of button this plugin makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tapped {
    /// An approval card's Approve or Deny.
    Approval(Button),
    /// A budget card's "allow more" or "leave it".
    Budget(BudgetChoice),
}

impl Tapped {
    /// Reads data a tap carried; `None` for anything this plugin did not make.
    pub fn parse(data: &str) -> Option<Tapped> {
        Button::parse(data)
            .map(Tapped::Approval)
            .or_else(|| BudgetChoice::parse(data).map(Tapped::Budget))
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

    #[test]
    fn budget_buttons_come_back_and_nothing_else_passes_for_one() {
        let data = BudgetChoice::encode("k3J9x_Qa-2bZ", 2_000_000).expect("fits");
        assert_eq!(data, "b:k3J9x_Qa-2bZ:2000000");
        assert_eq!(
            Tapped::parse(&data),
            Some(Tapped::Budget(BudgetChoice {
                card: "k3J9x_Qa-2bZ".into(),
                tokens: 2_000_000
            }))
        );
        assert!(matches!(Tapped::parse("a:id:h"), Some(Tapped::Approval(_))));
        assert_eq!(BudgetChoice::encode("a:b", 1), None);
        assert_eq!(BudgetChoice::encode(&"x".repeat(62), 1), None);
        for bad in [
            "b:card",
            "b::5",
            "b:card:",
            "b:card:-5",
            "b:card:+5",
            "b:card:5:6",
            "b:card:99999999999999999999",
            "b:ca rd:5",
            "c:card:5",
        ] {
            assert_eq!(Tapped::parse(bad), None, "{bad:?}");
        }
    }
}
