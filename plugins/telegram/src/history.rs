//! Recent messages per chat, for `get_telegram_history`: `history/<chat id>.jsonl` in
//! the data dir, one JSON object per line, oldest first.
//!
//! A bounded JSON-lines file rather than SQLite: the store is append-only, small and
//! read whole, needs no query, index or migration, and a person can read it. Bounded:
//! once a chat's file holds twice `history_per_chat` lines it is rewritten
//! (atomically) with the newest `history_per_chat`, so it never holds more than
//! twice that, and a text is at most one Telegram message. A line that cannot be
//! read is skipped, never fatal.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::ids::{ChatId, MessageId, UserId};
use crate::split::{split, MAX_MESSAGE_UNITS};

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id in the chat.
    pub message_id: MessageId,
    /// When (Unix seconds).
    pub date: i64,
    /// `in` (from a person) or `out` (from the bot).
    pub direction: String,
    /// The sender, for `in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
    /// Their name, for `in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `owner` or `contact`, for `in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
    /// The text.
    pub text: String,
}

/// The history of every chat.
pub struct History {
    dir: PathBuf,
    per_chat: usize,
    /// Lines in each chat's file, counted on first use.
    lines: Mutex<HashMap<ChatId, usize>>,
}

impl History {
    /// The history under `data_dir/history`, keeping `per_chat` messages per chat
    /// (0: none are kept).
    pub fn open(data_dir: &Path, per_chat: usize) -> std::io::Result<History> {
        let dir = data_dir.join("history");
        std::fs::create_dir_all(&dir)?;
        Ok(History {
            dir,
            per_chat,
            lines: Mutex::new(HashMap::new()),
        })
    }

    fn file(&self, chat: ChatId) -> PathBuf {
        self.dir.join(format!("{chat}.jsonl"))
    }

    /// Appends `entry` to `chat`'s history (its text cut to one message), then trims
    /// the file when it holds twice the bound.
    pub fn append(&self, chat: ChatId, mut entry: Entry) -> std::io::Result<()> {
        if self.per_chat == 0 {
            return Ok(());
        }
        if let Some(first) = split(&entry.text, MAX_MESSAGE_UNITS).first() {
            entry.text = (*first).to_owned();
        }
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.file(chat);
        let count = match lines.get(&chat) {
            Some(count) => *count,
            None => read_entries(&path)?.len(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(crate::atomic::O_NOFOLLOW)
            .open(&path)?;
        file.write_all(&line)?;
        let mut count = count + 1;
        if count >= 2 * self.per_chat {
            let entries = read_entries(&path)?;
            let keep = &entries[entries.len().saturating_sub(self.per_chat)..];
            let mut bytes = Vec::new();
            for kept in keep {
                bytes.extend(serde_json::to_vec(kept).map_err(std::io::Error::other)?);
                bytes.push(b'\n');
            }
            crate::atomic::replace(&path, &bytes)?;
            count = keep.len();
        }
        lines.insert(chat, count);
        Ok(())
    }

    /// The newest `limit` messages of `chat`, oldest first.
    pub fn recent(&self, chat: ChatId, limit: usize) -> std::io::Result<Vec<Entry>> {
        let _held = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries = read_entries(&self.file(chat))?;
        let skip = entries.len().saturating_sub(limit.min(self.per_chat));
        Ok(entries.split_off(skip))
    }
}

/// Every readable entry of `path` (none if it does not exist).
fn read_entries(path: &Path) -> std::io::Result<Vec<Entry>> {
    let file = match carapace_plugin_sdk::files::open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        if let Ok(entry) = serde_json::from_slice::<Entry>(&line?) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(id: i64, text: &str) -> Entry {
        Entry {
            message_id: MessageId(id),
            date: id,
            direction: "in".into(),
            user: Some(UserId(7)),
            name: Some("Ann".into()),
            trust: Some("owner".into()),
            text: text.into(),
        }
    }

    #[test]
    fn the_newest_are_kept_and_the_file_stays_bounded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = History::open(dir.path(), 5).expect("open");
        for id in 1..=23 {
            history
                .append(ChatId(1), said(id, &format!("m{id}")))
                .expect("append");
        }
        let recent = history.recent(ChatId(1), 100).expect("read");
        let ids: Vec<i64> = recent.iter().map(|e| e.message_id.0).collect();
        assert_eq!(ids, vec![19, 20, 21, 22, 23]);
        assert_eq!(history.recent(ChatId(1), 2).expect("read").len(), 2);
        let lines = std::fs::read_to_string(dir.path().join("history/1.jsonl")).expect("file");
        assert!(
            lines.lines().count() < 10,
            "bounded: {}",
            lines.lines().count()
        );
        assert!(history.recent(ChatId(2), 10).expect("none").is_empty());
    }

    #[test]
    fn a_broken_line_is_skipped_and_nothing_is_kept_at_zero() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = History::open(dir.path(), 5).expect("open");
        history.append(ChatId(1), said(1, "a")).expect("append");
        let path = dir.path().join("history/1.jsonl");
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{broken\n");
        std::fs::write(&path, text).expect("write");
        history.append(ChatId(1), said(2, "b")).expect("append");
        assert_eq!(history.recent(ChatId(1), 10).expect("read").len(), 2);
        let none = History::open(dir.path(), 0).expect("open");
        none.append(ChatId(3), said(1, "x")).expect("append");
        assert!(!dir.path().join("history/3.jsonl").exists());
    }
}
