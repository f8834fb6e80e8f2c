//! `StoreError`, and the one mapping each from what went wrong to what the agent
//! (a [`ToolError`]) or the core (an [`InitError`]) is told.
//!
//! `Display` is for the person and the core's log: it names the file. What the
//! agent sees ([`StoreError::to_tool_error`]) must never name a path or carry
//! SQL or SQLite's own text.

use std::path::PathBuf;

use carapace_plugin_sdk::{InitError, ToolError};
use rusqlite::ErrorCode;

use crate::caps::Cap;

/// What went wrong in the memory store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The group name is not `[A-Za-z0-9_-]{1,64}`.
    #[error("a group name must match [A-Za-z0-9_-]{{1,64}}")]
    InvalidGroup,
    /// The group has no database yet (only [`Store::open_existing`](crate::Store::open_existing)).
    #[error("{}: no memory database for this group", .path.display())]
    NoDatabase {
        /// The file looked for.
        path: PathBuf,
    },
    /// The database's schema is newer than this code knows; it was not touched.
    #[error(
        "{}: schema version {found} is newer than this plugin knows ({known}); the file was left untouched (upgrade the plugin)",
        .path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest version this code knows.
        known: i64,
    },
    /// The file is another program's SQLite database; it was not touched.
    #[error("{}: not a memory database (another program's?); the file was left untouched", .path.display())]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a database, or failed `PRAGMA quick_check`; it was not touched.
    #[error("{}: the database is corrupt ({detail}); the file was left untouched", .path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// The file or the data dir could not be opened or read.
    #[error("{}: cannot be read ({detail})", .path.display())]
    Unreadable {
        /// The file or directory.
        path: PathBuf,
        /// What the system or SQLite reported.
        detail: String,
    },
    /// An argument broke a rule the schema cannot state.
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument at fault.
        field: &'static str,
        /// Why, for the agent.
        reason: String,
    },
    /// A per-session cap is reached.
    #[error("{0}")]
    CapReached(Cap),
    /// The group already holds as many current untrusted entries as it keeps
    /// (in all, or from this sender).
    #[error(
        "the group holds {limit} current entries from others{}; the owner can review them \
         (`carapace memory list`) before more are kept",
        if *.per_sender { " from this sender" } else { "" }
    )]
    OthersFull {
        /// The bound reached.
        limit: i64,
        /// Whether it is the bound per sender.
        per_sender: bool,
    },
    /// Another connection held the database past the busy timeout.
    #[error("the memory database is busy")]
    Busy,
    /// Any other SQLite failure.
    #[error("{}: {source}", .path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// [`StoreError::Invalid`] on `field`.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Classifies a SQLite error on `path`: busy, corrupt, unreadable, or other.
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
        let code = source.sqlite_error_code();
        let path = path.to_owned();
        match code {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                path,
                detail: source.to_string(),
            },
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure,
            ) => StoreError::Unreadable {
                path,
                detail: source.to_string(),
            },
            _ => StoreError::Sqlite { path, source },
        }
    }

    /// What the agent is told: no path, no SQL, no SQLite text.
    pub fn to_tool_error(&self) -> ToolError {
        match self {
            StoreError::Invalid { field, reason } => ToolError::invalid(*field, reason.clone()),
            StoreError::CapReached(cap) => ToolError::rate_limited(cap.to_string()),
            StoreError::OthersFull { .. } => ToolError::rate_limited(self.to_string()),
            StoreError::Busy => {
                ToolError::retriable("the memory database is busy; try again in a moment")
            }
            StoreError::InvalidGroup | StoreError::NoDatabase { .. } => {
                ToolError::new("this session's group has no memory")
            }
            StoreError::SchemaTooNew { .. }
            | StoreError::Foreign { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Unreadable { .. } => ToolError::new(
                "memory is unavailable: its database cannot be used (the person can see why in `carapace doctor`)",
            ),
            StoreError::Sqlite { .. } => ToolError::new("memory could not be read or written"),
        }
    }

    /// What `initialize` reports: `CONFIG_ERROR` naming the file (for `status` and `doctor`).
    pub fn to_init_error(&self) -> InitError {
        InitError::config(format!("memory: {self}"))
    }
}
