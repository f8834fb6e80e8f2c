//! `carapace memory list|search|show|rm|promote|brief --group G`: the person's
//! view of what the agent remembers, on the memory plugin's own library (one
//! implementation), working on `data/memory/<group>.sqlite` while the core runs
//! (SQLite's WAL and busy timeout let both write).
//!
//! Must never print stored text raw: an entry may have been written by a
//! stranger's message, so every value a terminal would interpret is escaped
//! (`display`). Never creates a database for a group that has none.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use carapace_plugin_memory::{
    Actor, BriefLimits, Entry, EntryType, Search, Sight, Store, MAX_LIMIT,
};
use clap::Subcommand;

use crate::display::escape_str;
use crate::paths::Home;

/// The plugin whose data dir holds the memory databases.
pub const MEMORY_PLUGIN: &str = "memory";

/// Memory subcommands.
#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List a group's newest entries.
    List {
        /// The group.
        #[arg(long)]
        group: String,
        /// Also list superseded entries.
        #[arg(long)]
        all: bool,
        /// How many (1 to 100).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search a group's entries by words (best match first).
    Search {
        /// The group.
        #[arg(long)]
        group: String,
        /// The words to find (any text: punctuation is not search syntax).
        query: String,
        /// Only entries with this tag (repeat for several: all must match).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Only entries of this type (preference, fact, instruction, context, correction).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Also search superseded entries.
        #[arg(long)]
        all: bool,
        /// How many (1 to 100).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry with its provenance.
    Show {
        /// The group.
        #[arg(long)]
        group: String,
        /// The entry's id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an entry for good.
    Rm {
        /// The group.
        #[arg(long)]
        group: String,
        /// The entry's id.
        id: i64,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Make an untrusted entry count as yours (it then briefs as the owner's word).
    Promote {
        /// The group.
        #[arg(long)]
        group: String,
        /// The entry's id.
        id: i64,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Print the brief the group's next agent session will get.
    Brief {
        /// The group.
        #[arg(long)]
        group: String,
    },
}

/// Runs a memory subcommand. Its errors may quote what the file holds (a type
/// name, SQLite's words): escaped like every other stored value.
pub fn run(home: &Home, command: MemoryCommand) -> anyhow::Result<ExitCode> {
    run_escaped(home, command).map_err(|e| anyhow::anyhow!("{}", escape_str(&format!("{e:#}"))))
}

fn run_escaped(home: &Home, command: MemoryCommand) -> anyhow::Result<ExitCode> {
    match command {
        MemoryCommand::List {
            group,
            all,
            limit,
            json,
        } => {
            let search = Search {
                include_superseded: all,
                ..Search::newest(limit_of(limit)?)
            };
            let found = open(home, &group)?.search(&search)?;
            print_entries(&found, json);
        }
        MemoryCommand::Search {
            group,
            query,
            tags,
            kind,
            all,
            limit,
            json,
        } => {
            let kind = kind
                .map(|k| k.parse::<EntryType>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--{e}"))?;
            let search = Search {
                tags,
                kind,
                include_superseded: all,
                ..Search::matching(query, limit_of(limit)?)
            };
            let found = open(home, &group)?.search(&search)?;
            print_entries(&found, json);
        }
        MemoryCommand::Show { group, id, json } => {
            let entry = existing(&open(home, &group)?, id)?;
            if json {
                print_json(&serde_json::to_value(&entry)?);
            } else {
                print_detail(&entry);
            }
        }
        MemoryCommand::Rm { group, id, yes } => {
            let store = open(home, &group)?;
            let entry = existing(&store, id)?;
            if !yes && !confirmed(&entry, "Remove this entry for good?")? {
                println!("kept");
                return Ok(ExitCode::FAILURE);
            }
            store.delete(&person(), id)?;
            println!("removed #{id}");
        }
        MemoryCommand::Promote { group, id, yes } => {
            let store = open(home, &group)?;
            let entry = existing(&store, id)?;
            if !yes && !confirmed(&entry, "Count this entry as your own word?")? {
                println!("left as it was");
                return Ok(ExitCode::FAILURE);
            }
            let promoted = store.promote(id, person().name())?;
            println!("#{id} is now {}", promoted.trust);
        }
        MemoryCommand::Brief { group } => {
            let brief = open(home, &group)?.brief(BriefLimits::default(), Sight::All)?;
            // The brief folds control characters itself; escaped again for the terminal.
            for line in brief.markdown.lines() {
                println!("{}", escape_str(line));
            }
            eprintln!(
                "({} of {} current entries)",
                brief.brief_count, brief.entry_count
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The group's store; a group without a database is an error, not a new file.
fn open(home: &Home, group: &str) -> anyhow::Result<Store> {
    // Resolved as the plugin resolves it (SQLite refuses a link anywhere in the path).
    let dir = home.plugin_data_dir(MEMORY_PLUGIN);
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    Store::open_existing(&dir, group)
        .with_context(|| format!("the memory of group `{}`", escape_str(group)))
}

fn existing(store: &Store, id: i64) -> anyhow::Result<Entry> {
    store
        .get(id)?
        .ok_or_else(|| anyhow::anyhow!("no entry #{id} in group `{}`", store.group()))
}

fn limit_of(limit: usize) -> anyhow::Result<usize> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        anyhow::bail!("--limit must be between 1 and {MAX_LIMIT}")
    }
}

/// The person at this terminal, as recorded on what they change.
fn person() -> Actor {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && u.len() <= 64 && crate::display::is_safe(u))
        .unwrap_or_else(|| nix::unistd::getuid().to_string());
    Actor::Person {
        name: format!("host:{user}"),
    }
}

/// Shows `entry` and asks `question` on the terminal; without one, `--yes` is needed.
fn confirmed(entry: &Entry, question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("not a terminal: pass --yes to do this without being asked");
    }
    print_detail(entry);
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// JSON for a terminal or a pipe: still JSON, but every character a terminal would
/// act on (controls, C1, bidi, format) as a `\u` escape.
fn print_json(value: &serde_json::Value) {
    println!("{}", crate::display::escape_json(value));
}

fn print_entries(entries: &[Entry], json: bool) {
    if json {
        print_json(&serde_json::json!(entries));
        return;
    }
    if entries.is_empty() {
        println!("no entries");
    }
    for entry in entries {
        let superseded = match entry.superseded_by {
            Some(by) => format!(", superseded by #{by}"),
            None => String::new(),
        };
        println!(
            "#{:<6} {:<11} {:<9} {}  {}{superseded}",
            entry.id,
            entry.kind,
            entry.trust,
            escape_str(entry.created_at.get(..10).unwrap_or(&entry.created_at)),
            escape_str(&entry.content)
        );
    }
}

fn print_detail(entry: &Entry) {
    println!("#{} {} ({})", entry.id, entry.kind, entry.trust);
    println!("  content:    {}", escape_str(&entry.content));
    if !entry.tags.is_empty() {
        println!("  tags:       {}", escape_str(&entry.tags.join(", ")));
    }
    println!(
        "  stored:     {} by {}",
        escape_str(&entry.created_at),
        escape_str(&entry.session)
    );
    if let Some(origin) = &entry.origin {
        let from = [origin.plugin.as_deref(), origin.sender.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "  origin:     {} (trust {}){}",
            escape_str(&origin.kind),
            escape_str(&origin.trust),
            if from.is_empty() {
                String::new()
            } else {
                format!(" from {}", escape_str(&from))
            }
        );
    }
    if let Some(old) = entry.supersedes {
        println!("  supersedes: #{old}");
    }
    if let (Some(by), Some(at)) = (entry.superseded_by, &entry.superseded_at) {
        println!("  superseded: by #{by} at {}", escape_str(at));
    }
    if let (Some(at), Some(by)) = (&entry.promoted_at, &entry.promoted_by) {
        println!("  promoted:   {} by {}", escape_str(at), escape_str(by));
    }
}
