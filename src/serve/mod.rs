//! The running core's work, above the core and what it holds: sessions opened,
//! closed and restored ([`lifecycle`]), each socket message taken to the
//! pipeline ([`dispatch`]), what plugins may ask of the core
//! ([`plugin_services`], events they publish [`plugin_publish`], and by a
//! declared capability [`capabilities`]), and
//! the kill switch ([`pause`]) and the daily token caps ([`budget`]). These take the `Core`; nothing below them may.

pub mod budget;
pub mod capabilities;
pub mod dispatch;
pub mod lifecycle;
pub mod pause;
pub mod plugin_publish;
pub mod plugin_records;
pub mod plugin_services;
