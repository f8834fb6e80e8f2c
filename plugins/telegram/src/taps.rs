//! A tap on a card's button: who may tap (only a user the config lists as `owner`,
//! in a mapped chat; anyone else is answered "not allowed" and logged), then what
//! the button is: an approval card's (`approvals`) or a budget card's (`budgets`).
//! One gate for both kinds of card.
//!
//! Must never pass a tap on to the core from anyone but an owner, nor data this
//! plugin did not make.

use carapace_plugin_sdk::{CoreLink, Level};

use crate::callback::Tapped;
use crate::config::Role;
use crate::inbound::Refusal;
use crate::state::Shared;
use crate::update::CallbackQuery;
use crate::{approvals, budgets, outbound};

/// Handles a tap on a card's button.
pub fn on_tap(shared: &Shared, link: &CoreLink, tap: CallbackQuery) {
    let chat = tap.message.as_ref().map(|m| m.chat.id);
    let answer = |text: &str, alert: bool| {
        if let Err(error) = outbound::answer_tap(&shared.api, &tap.id, text, alert) {
            shared.log(
                Level::Warn,
                format!("telegram.tap_unanswered error={error}"),
            );
        }
    };
    let mapped = chat.is_some_and(|c| shared.config.group_of(c).is_some());
    if shared.config.role_of(tap.from.id) != Some(Role::Owner) || !mapped {
        shared.refused(&Refusal {
            reason: "not_owner_tap",
            chat,
            user: Some(tap.from.id),
            tell: None,
        });
        return answer("Not allowed: only the owner decides.", true);
    }
    let Some(tapped) = tap.data.as_deref().and_then(Tapped::parse) else {
        return answer("This button is not one of this bot's.", false);
    };
    let by = format!(
        "{} (Telegram user {})",
        tap.from.display_name(),
        tap.from.id
    );
    shared.remember_name(tap.from.id, &tap.from.display_name());
    match tapped {
        Tapped::Approval(button) => approvals::decide(shared, link, &tap, button, by, &answer),
        Tapped::Budget(choice) => budgets::choose(shared, link, &tap, &choice, by, &answer),
    }
}
