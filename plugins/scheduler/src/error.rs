//! What went wrong, and the one mapping from it to what the agent (a
//! [`ToolError`]) or the core (an [`InitError`]) is told.
//!
//! `Display` is for the person and the core's log: it may name the file. What
//! the agent sees must never name a path or carry SQL or SQLite's own text.

use std::path::PathBuf;

use carapace_plugin_sdk::{InitError, ToolError};

/// An argument that broke a rule: which one, and why (for the agent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The argument at fault (`cron`, `at`, `tz`, `prompt`, `id`, ...).
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl Invalid {
    /// A broken rule on `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Invalid {
        Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// What went wrong in the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    /// An argument broke a rule (`VALIDATION_FAILED` naming the field).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The group holds as many tasks as it may.
    #[error("this group already has {0} tasks; cancel one first")]
    Full(u32),
    /// The database is newer than this code, another program's, or corrupt; it was not touched.
    #[error("{}: {detail}; the file was left untouched", .path.display())]
    Refused {
        /// The database file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Any SQLite failure.
    #[error("{}: {source}", .path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The plugin is not initialized.
    #[error("the scheduler is not initialized")]
    NotReady,
}

impl SchedError {
    /// What the agent is told: no path, no SQL.
    pub fn to_tool_error(&self) -> ToolError {
        match self {
            SchedError::Invalid(invalid) => ToolError::invalid(invalid.field, invalid.reason.clone()),
            SchedError::Full(_) => ToolError::new(self.to_string()),
            SchedError::Refused { .. } => ToolError::new(
                "the scheduler is unavailable: its database cannot be used (the person can see why in `carapace doctor`)",
            ),
            SchedError::Sqlite { .. } => ToolError::retriable("the schedule could not be read or written"),
            SchedError::NotReady => ToolError::new("the scheduler is not initialized"),
        }
    }

    /// What `initialize` reports: `CONFIG_ERROR` naming the file.
    pub fn to_init_error(&self) -> InitError {
        InitError::config(format!("scheduler: {self}"))
    }
}
