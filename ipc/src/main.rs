//! The in-container `ipc` client (placeholder until the client lands).
fn main() {}
