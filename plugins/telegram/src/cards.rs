//! The cards still open (shown, not yet decided or expired), persisted in the data
//! dir so that a restarted plugin can still edit them: approval cards
//! (`cards.json`: to the outcome when it learns it, or to "expired" when the core no
//! longer has the call) and budget cards (`budget_cards.json`: the record of what
//! each offered, which a tap must match).
//!
//! At most [`MAX_OPEN_CARDS`] of each kind; past that the oldest is forgotten (a tap
//! on it then finds nothing). A card is taken out exactly once ([`Cards::close`]),
//! so two paths that learn the outcome (a tap here and the core's event) edit it
//! once, and a second tap on a one-shot card does nothing more.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ids::{ChatId, MessageId};

/// Most open cards kept.
pub const MAX_OPEN_CARDS: usize = 200;

/// One open card: where it was sent and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCard {
    /// The confirmation id.
    pub id: String,
    /// The call's group.
    pub group: String,
    /// The card's HTML, without an outcome.
    pub html: String,
    /// Each message showing it.
    pub messages: Vec<(ChatId, MessageId)>,
}

/// A card kept open: found again by its id.
pub trait Keyed: Clone + Serialize + DeserializeOwned {
    /// The card's id.
    fn key(&self) -> &str;
}

impl Keyed for OpenCard {
    fn key(&self) -> &str {
        &self.id
    }
}

/// The open cards of one kind, oldest first.
pub struct Cards<T> {
    path: PathBuf,
    open: Mutex<Vec<T>>,
}

impl<T: Keyed> Cards<T> {
    /// The cards stored in `data_dir/file` (none if the file is missing or
    /// unreadable: a lost card only misses its last edit, or answers a tap "no longer open").
    pub fn load(data_dir: &Path, file: &str) -> Cards<T> {
        let path = data_dir.join(file);
        // Never through a link, and bounded (a card file holds a few open cards).
        let open = carapace_plugin_sdk::files::read(&path, 16 << 20)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<T>>(&bytes).ok())
            .unwrap_or_default();
        Cards {
            path,
            open: Mutex::new(open),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `card` open.
    pub fn add(&self, card: T) -> std::io::Result<()> {
        let mut open = self.lock();
        open.retain(|c| c.key() != card.key());
        open.push(card);
        let excess = open.len().saturating_sub(MAX_OPEN_CARDS);
        open.drain(..excess);
        self.save(&open)
    }

    /// Takes the card `id` out, if it is open; only one caller gets it.
    pub fn close(&self, id: &str) -> Option<T> {
        self.close_where(|c| c.key() == id).pop()
    }

    /// Takes out every open card `matches` holds for; only one caller gets each.
    pub fn close_where(&self, matches: impl Fn(&T) -> bool) -> Vec<T> {
        let mut open = self.lock();
        let (taken, kept): (Vec<T>, Vec<T>) = open.drain(..).partition(|c| matches(c));
        *open = kept;
        if !taken.is_empty() {
            // A failed write leaves them in the file: at the next start they are checked again.
            let _ = self.save(&open);
        }
        taken
    }

    /// Every open card.
    pub fn all(&self) -> Vec<T> {
        self.lock().clone()
    }

    fn save(&self, open: &[T]) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(open).map_err(std::io::Error::other)?;
        crate::atomic::replace(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(id: &str) -> OpenCard {
        OpenCard {
            id: id.into(),
            group: "main".into(),
            html: "<b>x</b>".into(),
            messages: vec![(ChatId(1), MessageId(2))],
        }
    }

    #[test]
    fn cards_survive_a_restart_close_once_and_stay_bounded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cards = Cards::<OpenCard>::load(dir.path(), "cards.json");
        cards.add(card("a")).expect("add");
        cards.add(card("b")).expect("add");
        let again = Cards::<OpenCard>::load(dir.path(), "cards.json");
        assert_eq!(again.all().len(), 2);
        assert_eq!(again.close("a").map(|c| c.id), Some("a".into()));
        assert_eq!(again.close("a"), None, "closed once");
        assert_eq!(
            Cards::<OpenCard>::load(dir.path(), "cards.json").all(),
            vec![card("b")]
        );
        for i in 0..(MAX_OPEN_CARDS + 5) {
            again.add(card(&format!("c{i}"))).expect("add");
        }
        let all = again.all();
        assert_eq!(all.len(), MAX_OPEN_CARDS);
        assert_eq!(all[0].id, "c5", "the oldest went first");
        std::fs::write(dir.path().join("cards.json"), "garbage").expect("write");
        assert!(Cards::<OpenCard>::load(dir.path(), "cards.json")
            .all()
            .is_empty());
    }
}
