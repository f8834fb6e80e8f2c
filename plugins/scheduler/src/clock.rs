//! The plugin's own clock: the system's, or (test hook `test_clock`) the
//! instant written in `<data_dir>/clock`, so tests can move time without
//! touching the host's. Must never be set from a tool's arguments.

use std::path::PathBuf;

use jiff::Timestamp;

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// The RFC 3339 instant in this file (time stands still while it is unchanged
    /// or unreadable: nothing fires then).
    File(PathBuf),
}

impl Clock {
    /// Now, whole seconds; `None` when a file clock cannot be read.
    pub fn now(&self) -> Option<Timestamp> {
        match self {
            // Whole seconds: the cron crate searches in whole seconds, and an
            // instant with a fraction would step past a slot falling on it.
            Clock::System => whole_seconds(Timestamp::now()),
            Clock::File(path) => {
                let text = std::fs::read_to_string(path).ok()?;
                whole_seconds(text.trim().parse::<Timestamp>().ok()?)
            }
        }
    }

    /// Whether it is the test hook (polled often: it has no way to wake the runner).
    pub fn is_file(&self) -> bool {
        matches!(self, Clock::File(_))
    }
}

/// `at` without its fraction of a second.
pub fn whole_seconds(at: Timestamp) -> Option<Timestamp> {
    Timestamp::from_second(at.as_second()).ok()
}
