//! The Telegram plugin: talk to the agent from a chat, approve its high-risk calls with
//! one tap that shows every argument, and stop a group from the phone.
//!
//! It long-polls the Bot API (`poll`, offset persisted in the data dir: `offset`),
//! turns a text from a mapped chat and a listed user into `message.inbound` for the
//! chat's group with the sender and their trust (`inbound`), and answers in the same
//! chat as a reply when the core publishes `agent.completed` (`deliver`), split at
//! 4096 UTF-16 units (`split`), HTML-escaped (`html`), resent as plain text on a 400,
//! with 429s and network failures retried (`api`). It shows "typing…" while the agent
//! works (`typing`). It sends a card with buttons for each `confirmation.requested`
//! of its groups and passes an owner's tap to the core (`approvals`, `card`,
//! `callback`, `taps`), sends a card for each `budget.exhausted` of its groups whose
//! "allow N more today" an owner taps (`budgets`, `budget_card`), and turns an
//! owner's `/stop`, `/resume`, `/status` into the core's kill switch (`commands`). Tools: `send_telegram`, `get_telegram_history`
//! (`tools`, `history`).
//!
//! Must never: let a message in from a chat or user the config does not list, or a
//! command or tap from anyone but an owner; log a message's text; put the bot token
//! (it is in every request's URL path) in an error, a log line or a panic; send an
//! agent's answer to a chat not mapped to the session's group.

#![deny(missing_docs)]

pub mod api;
mod approvals;
mod atomic;
pub mod base_url;
pub mod budget_card;
mod budgets;
pub mod callback;
pub mod card;
pub mod cards;
pub mod clock;
mod commands;
pub mod config;
mod deliver;
mod handler;
pub mod history;
pub mod html;
pub mod ids;
pub mod inbound;
pub mod offset;
mod outbound;
mod poll;
pub mod pretty;
pub mod queue;
pub mod refusals;
pub mod split;
pub mod state;
mod taps;
pub mod token;
mod tools;
pub mod typing;
pub mod update;

pub use handler::TelegramHandler;
