//! The parts of the `ipc` binary: argv, arguments and request, the exchange.

pub mod args;
pub mod request;
pub mod transport;
