//! `MemoryHandler`, the SDK plugin: opens every group's database at
//! `initialize` (checked, migrated, superseded entries purged), later groups on
//! first use, and answers tool calls and the brief from the store of the
//! envelope's group.
//!
//! Must never start with a database it could not check (`initialize` fails with
//! `CONFIG_ERROR` naming the file), nor choose a group from anything but the
//! envelope.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use carapace_plugin_sdk::{
    BriefRequest, CallContext, Init, InitError, Level, MemoryBrief, Plugin, ToolError,
};
use serde_json::Value;

use crate::actor::Actor;
use crate::brief::BriefLimits;
use crate::config::Config;
use crate::error::StoreError;
use crate::group::group_of_file;
use crate::store::Store;
use crate::tools;

/// The memory plugin's handler.
#[derive(Default)]
pub struct MemoryHandler {
    opened: Option<Opened>,
}

/// What `initialize` set up.
struct Opened {
    data_dir: PathBuf,
    config: Config,
    stores: Mutex<HashMap<String, Arc<Store>>>,
}

impl MemoryHandler {
    /// A handler waiting for `initialize`.
    pub fn new() -> MemoryHandler {
        MemoryHandler::default()
    }

    fn opened(&self) -> Result<&Opened, ToolError> {
        self.opened
            .as_ref()
            .ok_or_else(|| ToolError::new("the memory plugin is not initialized"))
    }

    /// The brief of the request's group, for the new session it names; a request
    /// naming no session (an older core) sees what its origin allows, none: the least.
    fn brief(&self, request: &BriefRequest) -> Result<MemoryBrief, StoreError> {
        let Some(opened) = self.opened.as_ref() else {
            return Err(StoreError::InvalidGroup);
        };
        match opened.existing_store(&request.group)? {
            Some(store) => match request.session.as_deref().filter(|s| !s.is_empty()) {
                Some(session) => {
                    let actor = Actor::Session {
                        id: session.to_owned(),
                        origin: request.origin.clone(),
                    };
                    store.brief_for(BriefLimits::default(), &actor)
                }
                None => {
                    let nobody = Actor::Session {
                        id: String::new(),
                        origin: request.origin.clone(),
                    };
                    store.brief(BriefLimits::default(), nobody.sight())
                }
            },
            None => Ok(MemoryBrief {
                markdown: String::new(),
                entry_count: 0,
                brief_count: 0,
            }),
        }
    }
}

impl Plugin for MemoryHandler {
    fn initialize(&mut self, init: &Init) -> Result<(), InitError> {
        self.opened = Some(Opened::initialize(init)?);
        Ok(())
    }

    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        let store = self
            .opened()?
            .store(ctx.group())
            .map_err(|error| report(ctx, &error))?;
        tools::call(&store, ctx, tool, arguments).map_err(|error| match error {
            tools::Failed::Store(error) => report(ctx, &error),
            tools::Failed::Tool(error) => error,
        })
    }

    fn memory_brief(&self, group: &str) -> Option<Result<MemoryBrief, ToolError>> {
        self.memory_brief_for(&BriefRequest {
            group: group.to_owned(),
            ..BriefRequest::default()
        })
    }

    fn memory_brief_for(&self, request: &BriefRequest) -> Option<Result<MemoryBrief, ToolError>> {
        let group = &request.group;
        Some(self.brief(request).map_err(|error| {
            // stderr goes to the core's log; the message names the file.
            eprintln!("carapace-plugin-memory: brief of group {group:?}: {error}");
            error.to_tool_error()
        }))
    }
}

/// Logs what the person should see (paths included) and returns what the agent may.
fn report(ctx: &CallContext, error: &StoreError) -> ToolError {
    if matches!(
        error,
        StoreError::SchemaTooNew { .. }
            | StoreError::Foreign { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Unreadable { .. }
            | StoreError::Sqlite { .. }
    ) {
        ctx.log(Level::Error, format!("memory: {error}"));
    }
    error.to_tool_error()
}

impl Opened {
    /// Opens (checks, migrates, purges) every `<group>.sqlite` in the data dir.
    fn initialize(init: &Init) -> Result<Opened, InitError> {
        let config = Config::from_init(init)?;
        let data_dir = init.data_dir.clone();
        let unreadable = |e: std::io::Error| {
            StoreError::Unreadable {
                path: data_dir.clone(),
                detail: e.to_string(),
            }
            .to_init_error()
        };
        std::fs::create_dir_all(&data_dir).map_err(unreadable)?;
        // SQLite's no-follow open refuses a link in any component of the path: a home
        // under a linked directory (`/home` -> `/var/home`) must still work, so the
        // directory is resolved once here; the database file itself is never followed.
        let data_dir = std::fs::canonicalize(&data_dir).map_err(unreadable)?;
        let mut stores = HashMap::new();
        for group in groups_in(&data_dir).map_err(unreadable)? {
            let store = Store::open(&data_dir, &group).map_err(|e| e.to_init_error())?;
            store
                .purge_superseded(config.purge_superseded_days)
                .map_err(|e| e.to_init_error())?;
            store.compact_index().map_err(|e| e.to_init_error())?;
            stores.insert(group, Arc::new(store));
        }
        Ok(Opened {
            data_dir,
            config,
            stores: Mutex::new(stores),
        })
    }

    /// The store of `group`, opened (and created) on first use.
    fn store(&self, group: &str) -> Result<Arc<Store>, StoreError> {
        let found = self.lookup(group, Store::open)?;
        found.ok_or(StoreError::InvalidGroup)
    }

    /// The store of `group` if it has a database (a brief creates none).
    fn existing_store(&self, group: &str) -> Result<Option<Arc<Store>>, StoreError> {
        self.lookup(group, Store::open_existing)
    }

    /// The open store of `group`, or the one `open` gives (checked, purged, kept).
    fn lookup(
        &self,
        group: &str,
        open: fn(&Path, &str) -> Result<Store, StoreError>,
    ) -> Result<Option<Arc<Store>>, StoreError> {
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = stores.get(group) {
            return Ok(Some(Arc::clone(store)));
        }
        let store = match open(&self.data_dir, group) {
            Ok(store) => Arc::new(store),
            Err(StoreError::NoDatabase { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        store.purge_superseded(self.config.purge_superseded_days)?;
        store.compact_index()?;
        stores.insert(group.to_owned(), Arc::clone(&store));
        Ok(Some(store))
    }
}

/// The groups with a database file in `data_dir`, sorted.
fn groups_in(data_dir: &Path) -> std::io::Result<Vec<String>> {
    let mut groups = Vec::new();
    for entry in std::fs::read_dir(data_dir)? {
        let name = entry?.file_name();
        if let Some(group) = name.to_str().and_then(group_of_file) {
            groups.push(group.to_owned());
        }
    }
    groups.sort();
    Ok(groups)
}
