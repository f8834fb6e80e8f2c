//! The calendar plugin: CalDAV calendars read, expanded and written by the plugin,
//! the credentials kept on the host.
//!
//! Discovery from a base URL (`discovery`: RFC 6764 well-known, RFC 5397 principal,
//! RFC 4791 home set), WebDAV XML (`dav`), HTTP with rustls (`http`), OAuth2 refresh (`oauth`), iCalendar read
//! (`ics`) and written (`write`), recurrence expanded by the plugin with bounds
//! (`expand`), zones (`zone`), free/busy (`freebusy`), the account (`service`) with windows reused while the
//! calendar's ctag holds (`window_cache`) and
//! the five tools (`tools`, writes in `change` and `delete`) on the SDK (`handler`).
//!
//! Must never: send the credentials outside the configured server's site or over
//! plain HTTP beyond loopback; log a credential or an event's text; let an event's
//! text reach the agent unmarked (it is a stranger's data); expand without a bound.

#![deny(missing_docs)]

pub mod budget;
mod change;
pub mod config;
pub mod dav;
mod delete;
pub mod discovery;
pub mod error;
pub mod expand;
pub mod freebusy;
mod handler;
pub mod href;
pub mod http;
pub mod ics;
pub mod oauth;
pub mod service;
pub mod times;
pub mod tools;
pub mod window_cache;
pub mod write;
pub mod xml_bounds;
pub mod zone;

pub use handler::{
    account_for, CalendarHandler, ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, PASSWORD, REFRESH_TOKEN,
};
