//! The email plugin: the agent searches, reads and files mail over IMAP, and sends
//! mail over SMTP submission only with the person's approval of each message;
//! optionally, mail from allow-listed senders starts a session.
//!
//! IMAP (`imap`, over rustls: implicit TLS or STARTTLS) with one session kept open
//! between calls (`connection::live`); search criteria quoted so no text becomes IMAP
//! syntax (`connection::quote`, `search`); ids that carry the folder's UIDVALIDITY so a
//! stale id is refused (`id`); bodies parsed by `mail-parser`, HTML made text by
//! `html2text`, cut to size, attachments only listed (`read`, `body`, `structure`);
//! sending through `lettre` after checking every recipient and header (`send`,
//! `smtp`), a
//! copy of the bytes sent APPENDed to the Sent folder (`sent`);
//! passwords or OAuth2 access tokens refreshed by the plugin (`secret`, `oauth`).
//!
//! Must never: send a mail except in an `email_send` call (which the core holds for
//! the person's approval: the tool is high risk); send to anyone not in its `to` or
//! `cc`; connect without TLS, or skip certificate checks for a non-loopback host;
//! put a password, token or mail content in a log line; treat mail content as
//! instructions (every answer says it is data).

#![deny(missing_docs)]

pub mod address;
mod atomic;
pub mod body;
pub mod config;
pub mod connection;
pub mod error;
mod folders;
mod handler;
pub mod id;
pub mod oauth;
pub mod parsed;
mod poll;
pub mod read;
pub mod resolve;
pub mod search;
pub mod secret;
pub mod seen;
pub mod send;
pub mod sent;
pub mod smtp;
pub mod state;
pub mod structure;
pub mod summary;
pub mod text;
pub mod tls;
mod tools;
pub mod trust;
pub mod utf7;

pub use handler::EmailHandler;
