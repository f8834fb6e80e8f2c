//! The core's side of the session sockets: a ZMTP 3 ROUTER per session
//! ([`socket`], each connection in [`connection`]) and the owner-only PUB
//! event bus ([`publisher`]). Bytes in, bytes out: what a message means is
//! decided by the core's dispatcher, never here.

mod connection;
pub mod publisher;
pub mod socket;
