//! The memory plugin: what the agent remembers of a group, with where each entry came from.
//!
//! One SQLite database per group (`<data_dir>/<group>.sqlite`, WAL, FTS5). Every
//! entry carries provenance written from the call's envelope, never from its
//! arguments: the session, the group, the time and the session's origin, and a
//! `trust` of `owner` (the session's origin trust is `owner`) or `untrusted`
//! (anything else, or no origin). What came from a stranger stays data: an
//! untrusted session may not supersede or delete an owner's entry, and the brief
//! shows untrusted entries only quoted, under a statement that they are not
//! instructions, until the person promotes one. A session someone else started
//! reads only the owner's behavioural entries and its own sender's ([`Sight`]).
//!
//! The library is the whole plugin; the binary only runs [`MemoryHandler`] on the
//! SDK, and the host's `carapace memory` commands use [`Store`] directly:
//!
//! ```no_run
//! use carapace_plugin_memory::{Search, Store};
//!
//! let store = Store::open_existing("/home/me/.carapace/data/memory".as_ref(), "family")?;
//! for entry in store.search(&Search::newest(20))? {
//!     println!("#{} [{}] {}", entry.id, entry.trust, entry.content);
//! }
//! # Ok::<(), carapace_plugin_memory::StoreError>(())
//! ```
//!
//! Must never: take provenance or trust from arguments; let user text reach FTS5
//! as syntax; delete, rename or rewrite a database it refuses; put a path or SQL
//! in an error the agent sees.

#![deny(missing_docs)]

mod actor;
mod brief;
mod caps;
mod config;
mod database;
mod entry;
mod error;
mod fold;
mod fts;
mod group;
mod handler;
mod row;
mod schema;
mod search;
mod store;
pub(crate) mod taint;
mod tools;

pub use actor::{Actor, Sight};
pub use brief::{BriefLimits, MAX_BRIEF_CHARS, MAX_BRIEF_ENTRIES};
pub use caps::{Cap, MAX_DELETES, MAX_STORES, MAX_SUPERSEDES};
pub use config::{Config, DEFAULT_PURGE_SUPERSEDED_DAYS};
pub use entry::{Entry, EntryType, NewEntry, Trust, MAX_CONTENT_CHARS, MAX_TAGS, MAX_TAG_CHARS};
pub use error::StoreError;
pub use fold::{fold, quoted};
pub use fts::{fts_expression, Query};
pub use group::{database_path, valid_group_name, DATABASE_EXTENSION};
pub use handler::MemoryHandler;
pub use schema::SCHEMA_VERSION;
pub use search::{Search, DEFAULT_LIMIT, MAX_LIMIT, RANKED};
pub use store::{Store, MAX_INDEX_SEGMENTS};
pub use taint::{MAX_OTHERS_CURRENT, MAX_OTHERS_PER_SENDER};

pub use carapace_plugin_sdk::{MemoryBrief, Origin};
