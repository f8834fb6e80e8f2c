//! Write a Carapace plugin handler in Rust.
//!
//! A handler is a separate process that speaks JSON-RPC 2.0 with the core over
//! stdin/stdout, one JSON object per line (DESIGN.md §3). This crate does the
//! protocol; a plugin implements [`Plugin`] and calls [`run`]:
//!
//! ```no_run
//! use carapace_plugin_sdk::{run, CallContext, Plugin, ToolError};
//! use serde_json::{json, Value};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
//!         #[derive(serde::Deserialize)]
//!         struct Args { name: String }
//!         match tool {
//!             "hello" => {
//!                 let args: Args = ctx.args(arguments)?;
//!                 Ok(json!({"greeting": format!("hello, {}", args.name)}))
//!             }
//!             other => Err(ToolError::new(format!("unknown tool `{other}`"))),
//!         }
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     run(Hello)
//! }
//! ```
//!
//! Calls run concurrently (each on its own thread, at most
//! [`MAX_CONCURRENT_CALLS`] at once), so a slow call never holds up a fast one;
//! the thread that reads a call runs it, so a call costs no hand-over between threads.
//! stdout belongs to the protocol: never print to it; log with
//! [`CallContext::log`] or to stderr (the core captures stderr to its log).
//!
//! This crate depends on nothing of the core and on no async runtime.
//! [`testing::Harness`] runs a plugin in-process over real pipes for tests.

mod child;
mod context;
mod crew;
mod error;
pub mod files;
mod heap;
mod init;
mod link;
pub mod oauth;
mod plugin;
mod runtime;
pub mod testing;
mod wire;

pub use context::{typed, CallContext, Envelope, Origin, SessionRef};
pub use crew::MAX_CONCURRENT_CALLS;
pub use error::{
    Category, CoreError, InitError, JsonRpcError, ToolCode, ToolError, HANDLER_ERROR,
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, NOT_INITIALIZED,
    SERVER_ERROR,
};
pub use init::{CredentialError, Init, Secret, MAX_CREDENTIAL_BYTES};
pub use link::{CoreLink, Level, DEFAULT_REQUEST_TIMEOUT, MAX_LOG_MESSAGE_BYTES};
pub use plugin::{BriefRequest, MemoryBrief, Plugin};
pub use runtime::{run, serve, Stopped, SHUTDOWN_DRAIN};
pub use wire::{MAX_INPUT_LINE_BYTES, MAX_OUTPUT_LINE_BYTES};
