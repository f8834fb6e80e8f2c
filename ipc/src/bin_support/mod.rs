//! The parts of the `ipc` binary: argv, arguments and request, the exchange,
//! a stop after sending, and the `relay` subcommand.

pub mod args;
pub mod relay;
pub mod request;
pub mod stopped;
pub mod transport;
