//! The budget card for a `budget.exhausted` event: which group (and task) spent its
//! daily token cap, used against cap, that it resets at midnight UTC, and buttons
//! "Allow N more today" (about half the cap and the whole cap again, rounded) and
//! "Leave it"; and the line its outcome adds. Pure: data in, text out.
//!
//! The record ([`BudgetCard`]) is what a tap must match: the group, the task and
//! the amounts offered. Must never offer more than the core accepts in one
//! extension ([`MAX_OFFER`]).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::callback::BudgetChoice;
use crate::cards::Keyed;
use crate::html::escape;
use crate::ids::{ChatId, MessageId};

/// The most tokens one extension may add (the core's bound).
pub const MAX_OFFER: u64 = 100_000_000;
/// Seconds in a UTC day.
const DAY: i64 = 86_400;

/// The `budget.exhausted` payload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Exhausted {
    /// The group whose cap (or whose task's cap) was reached.
    pub group: String,
    /// The task, when it is a task's own cap.
    #[serde(default)]
    pub task: Option<String>,
    /// Tokens used today.
    pub used: u64,
    /// Tokens held by requests in flight.
    #[serde(default)]
    pub reserved: u64,
    /// The cap in force.
    pub cap: u64,
}

/// An open budget card: what it offered, where it was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetCard {
    /// The card's id (in its buttons' data).
    pub id: String,
    /// The group.
    pub group: String,
    /// The task, if it is a task's cap.
    pub task: Option<String>,
    /// The amounts offered, in tokens.
    pub offers: Vec<u64>,
    /// The UTC day it was sent (days since the epoch): a cap resets at midnight.
    pub day: i64,
    /// The card's HTML, without an outcome.
    pub html: String,
    /// Each message showing it.
    pub messages: Vec<(ChatId, MessageId)>,
}

impl Keyed for BudgetCard {
    fn key(&self) -> &str {
        &self.id
    }
}

impl BudgetCard {
    /// Whether it is about `group` and `task`.
    pub fn is_for(&self, group: &str, task: Option<&str>) -> bool {
        self.group == group && self.task.as_deref() == task
    }
}

/// The UTC day of `unix` (days since the epoch).
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(DAY)
}

/// What to offer for `cap`: about half of it and all of it again, each rounded to
/// two significant digits, at least 1, at most [`MAX_OFFER`]; one amount if both round
/// the same.
pub fn offers(cap: u64) -> Vec<u64> {
    let mut amounts = vec![round(cap.div_ceil(2)), round(cap)];
    amounts.dedup();
    amounts
}

/// `n` rounded to two significant digits (half up), within 1..=[`MAX_OFFER`].
fn round(n: u64) -> u64 {
    let mut unit = 1u64;
    while n / unit >= 100 {
        unit = unit.saturating_mul(10);
    }
    let rounded = n.saturating_add(unit / 2) / unit * unit;
    rounded.clamp(1, MAX_OFFER)
}

/// `n` with thousands separators: `1,250,000`.
pub fn tokens(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the cap is of, in words: `group main` or `task t1 of group main`, escaped.
pub fn scope(group: &str, task: Option<&str>) -> String {
    match task {
        Some(task) => format!(
            "task <code>{}</code> of group <code>{}</code>",
            escape(task),
            escape(group)
        ),
        None => format!("group <code>{}</code>", escape(group)),
    }
}

/// The card's HTML for `exhausted`, seen at `now` (Unix seconds).
pub fn render(exhausted: &Exhausted, now: i64) -> String {
    let left = DAY - now.rem_euclid(DAY);
    let what = scope(&exhausted.group, exhausted.task.as_deref());
    let stops = if exhausted.task.is_some() {
        "this task's model requests are refused (the rest of its group goes on)"
    } else {
        "the agent's model requests in this group are refused"
    };
    let mut html = format!(
        "💸 <b>Daily token budget spent</b>\n<b>For:</b> {what}\n<b>Used today:</b> {} of a cap of {} tokens",
        tokens(exhausted.used),
        tokens(exhausted.cap)
    );
    if exhausted.reserved > 0 {
        html.push_str(&format!(
            " ({} more held by requests in flight)",
            tokens(exhausted.reserved)
        ));
    }
    html.push_str(&format!(
        "\nUntil the cap resets at midnight UTC (in {} h {} min), {stops}.\nAllow more for today only, or leave it.",
        left / 3600,
        left % 3600 / 60
    ));
    html
}

/// The buttons: one "Allow N more today" per offer, then "Leave it"; `None` if the
/// id is not one a button can carry.
pub fn keyboard(id: &str, offers: &[u64]) -> Option<Value> {
    let mut rows = Vec::new();
    for amount in offers {
        let data = BudgetChoice::encode(id, *amount)?;
        rows.push(
            json!([{"text": format!("➕ Allow {} more today", tokens(*amount)),
                          "callback_data": data}]),
        );
    }
    let leave = BudgetChoice::encode(id, 0)?;
    rows.push(json!([{"text": "Leave it", "callback_data": leave}]));
    Some(Value::Array(rows))
}

/// How a budget card ended, for the line it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// More was allowed; the cap now in force.
    Extended {
        /// Tokens added.
        tokens: u64,
        /// The cap for the rest of the day.
        cap: u64,
        /// Who allowed it.
        by: String,
    },
    /// Someone chose to leave it.
    Left {
        /// Who.
        by: String,
    },
    /// The core refused the extension; why, in words (plain text).
    Refused {
        /// What the person should know or do.
        why: String,
    },
    /// The card is from an earlier day: that cap has reset.
    Stale,
}

/// The card's text with its ending, at `at`.
pub fn with_ending(card_html: &str, ending: &Ending, at: &str) -> String {
    let line = match ending {
        Ending::Extended { tokens: n, cap, by } => format!(
            "✅ <b>Allowed {} more today</b> by {} at {at}: the cap is {} tokens until midnight UTC.",
            tokens(*n),
            escape(by),
            tokens(*cap)
        ),
        Ending::Left { by } => format!(
            "⏸ <b>Left as it is</b> by {} at {at}: the cap resets at midnight UTC.",
            escape(by)
        ),
        Ending::Refused { why } => format!("⚠️ <b>Not raised</b> ({at}): {}", escape(why)),
        Ending::Stale => {
            format!("⌛ <b>Expired</b> at {at}: this cap has reset since (a new UTC day).")
        }
    };
    format!("{card_html}\n\n{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_half_and_whole_rounded_and_bounded() {
        assert_eq!(offers(100), vec![50, 100]);
        assert_eq!(offers(2_000_000), vec![1_000_000, 2_000_000]);
        assert_eq!(offers(123_456), vec![62_000, 120_000]);
        assert_eq!(offers(999), vec![500, 1_000]);
        assert_eq!(offers(1), vec![1]);
        assert_eq!(offers(0), vec![1]);
        assert_eq!(offers(u64::MAX), vec![MAX_OFFER]);
        assert_eq!(tokens(1_250_000), "1,250,000");
        assert_eq!(tokens(100), "100");
        assert_eq!(tokens(1000), "1,000");
    }

    #[test]
    fn a_card_says_what_is_spent_when_it_resets_and_offers_buttons_that_fit() {
        let exhausted = Exhausted {
            group: "main".into(),
            task: Some("<digest>".into()),
            used: 120,
            reserved: 0,
            cap: 100,
        };
        // 2026-12-03 22:30 UTC: 1 h 30 min to midnight.
        let html = render(&exhausted, 1_796_337_000);
        assert!(
            html.contains("task <code>&lt;digest&gt;</code> of group <code>main</code>"),
            "{html}"
        );
        assert!(html.contains("120 of a cap of 100 tokens"));
        assert!(html.contains("midnight UTC (in 1 h 30 min)"), "{html}");
        let id = "k3J9x_Qa-2bZ";
        let rows = keyboard(id, &offers(exhausted.cap)).expect("buttons");
        assert_eq!(rows[0][0]["text"], "➕ Allow 50 more today");
        assert_eq!(rows[0][0]["callback_data"], "b:k3J9x_Qa-2bZ:50");
        assert_eq!(rows[1][0]["callback_data"], "b:k3J9x_Qa-2bZ:100");
        assert_eq!(rows[2][0]["text"], "Leave it");
        assert_eq!(rows[2][0]["callback_data"], "b:k3J9x_Qa-2bZ:0");
        let ended = with_ending(
            &html,
            &Ending::Extended {
                tokens: 50,
                cap: 150,
                by: "Ann <1>".into(),
            },
            "2026-12-03 22:31 UTC",
        );
        assert!(ended.ends_with(
            "✅ <b>Allowed 50 more today</b> by Ann &lt;1&gt; at 2026-12-03 22:31 UTC: the cap is 150 tokens until midnight UTC."
        ));
        assert_eq!(day_of(1_796_337_000), day_of(1_796_342_399));
        assert_ne!(day_of(1_796_337_000), day_of(1_796_342_400));
    }
}
