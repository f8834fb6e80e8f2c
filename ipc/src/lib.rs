//! The Carapace trust boundary as types: what the container may send, what it gets back.
//!
//! This crate owns the wire contract (DESIGN.md §2) and nothing of the core. The
//! core parses every inbound message with [`wire::parse_request`]; the `ipc`
//! binary builds requests with [`WireRequest`] and reads [`ResponseEnvelope`]s.

pub mod envelope;
pub mod error;
pub mod wire;

pub use envelope::{Payload, ResponseEnvelope};
pub use error::{ErrorBody, ErrorCode};
pub use wire::{parse_request, WireError, WireRequest};

/// Largest raw message (request or response) that crosses the boundary.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Largest serialized size of one top-level argument.
pub const MAX_ARGUMENT_BYTES: usize = 100 << 10;
/// Deepest JSON nesting accepted in a request.
pub const MAX_JSON_DEPTH: usize = 64;
/// Longest `correlation` string accepted.
pub const MAX_CORRELATION_LEN: usize = 128;
/// Topic prefix of a tool call.
pub const TOOL_TOPIC_PREFIX: &str = "tool.invoke.";
/// Version of the response envelope.
pub const ENVELOPE_VERSION: u32 = 1;
/// Path of the session socket inside the container.
pub const DEFAULT_SOCKET_PATH: &str = "/run/carapace/ipc.sock";
/// The longest wait `ipc` accepts in `CARAPACE_IPC_TIMEOUT`, one day, in seconds.
pub const MAX_IPC_TIMEOUT_SECS: u64 = 86_400;
