//! The Carapace core: the host side of the trust boundary.
//!
//! See `docs/architecture.md` for what each module owns and must never do.

pub mod agent;
pub mod assemble;
pub mod audit;
pub mod bounded_line;
pub mod cli;
pub mod config;
pub mod control;
pub mod core;
pub mod credentials;
pub mod daemon;
pub mod display;
pub mod ids;
pub mod install;
pub mod memory;
pub mod migrate;
pub mod model_proxy;
pub mod oauth_login;
pub mod paths;
pub mod pipeline;
pub mod plugins;
pub mod policy;
pub mod refusal;
pub mod runtime;
pub mod sanitize;
pub mod secret_values;
pub mod serve;
pub mod session;
pub mod skills;
pub mod source_tree;
pub mod time;
pub mod tools;
