//! The running core's work, above the core and what it holds: sessions opened,
//! closed and restored ([`lifecycle`]), each socket message taken to the
//! pipeline ([`dispatch`]), and what plugins may ask of the core
//! ([`plugin_services`]). These take the `Core`; nothing below them may.

pub mod dispatch;
pub mod lifecycle;
pub mod plugin_services;
