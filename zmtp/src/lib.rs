//! The ZMTP 3 transport of Carapace's sockets, in one place: the sans-IO
//! [`codec`] both ends share, the blocking [`client`] (feature `client`: the
//! static `ipc` binary and `carapace events`), and the core's tokio
//! [`server`] (feature `server`: one ROUTER per session and the event bus).
//!
//! This crate moves bytes and bounds them; it never interprets a message (the
//! wire contract is `carapace-ipc`'s, the pipeline the core's). A report like
//! "my REQ peer hangs" starts and ends here.

#[cfg(feature = "client")]
pub mod client;
pub mod codec;
#[cfg(feature = "server")]
pub mod server;

/// Longest path a Unix socket address can hold (`sun_path` less the NUL).
pub const MAX_SOCKET_PATH: usize = 107;
