//! The approval cards still open (shown, not yet decided or expired), persisted in the
//! data dir (`cards.json`) so that a restarted plugin can still edit them: to the
//! outcome when it learns it, or to "expired" when the core no longer has the call.
//!
//! At most [`MAX_OPEN_CARDS`]; past that the oldest is forgotten (a tap on it then
//! learns from the core that it is no longer pending). A card is taken out exactly
//! once ([`Cards::close`]), so two paths that learn the outcome (a tap here and the
//! core's `confirmation.resolved`) edit it once.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

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

/// The open cards, oldest first.
pub struct Cards {
    path: PathBuf,
    open: Mutex<Vec<OpenCard>>,
}

impl Cards {
    /// The cards stored in `data_dir` (none if the file is missing or unreadable:
    /// a lost card only misses its last edit).
    pub fn load(data_dir: &Path) -> Cards {
        let path = data_dir.join("cards.json");
        let open = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<OpenCard>>(&bytes).ok())
            .unwrap_or_default();
        Cards {
            path,
            open: Mutex::new(open),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OpenCard>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `card` open.
    pub fn add(&self, card: OpenCard) -> std::io::Result<()> {
        let mut open = self.lock();
        open.retain(|c| c.id != card.id);
        open.push(card);
        let excess = open.len().saturating_sub(MAX_OPEN_CARDS);
        open.drain(..excess);
        self.save(&open)
    }

    /// Takes the card of confirmation `id` out, if it is open; only one caller gets it.
    pub fn close(&self, id: &str) -> Option<OpenCard> {
        let mut open = self.lock();
        let at = open.iter().position(|c| c.id == id)?;
        let card = open.remove(at);
        // A failed write leaves it in the file: at the next start it is checked again.
        let _ = self.save(&open);
        Some(card)
    }

    /// Every open card.
    pub fn all(&self) -> Vec<OpenCard> {
        self.lock().clone()
    }

    fn save(&self, open: &[OpenCard]) -> std::io::Result<()> {
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
        let cards = Cards::load(dir.path());
        cards.add(card("a")).expect("add");
        cards.add(card("b")).expect("add");
        let again = Cards::load(dir.path());
        assert_eq!(again.all().len(), 2);
        assert_eq!(again.close("a").map(|c| c.id), Some("a".into()));
        assert_eq!(again.close("a"), None, "closed once");
        assert_eq!(Cards::load(dir.path()).all(), vec![card("b")]);
        for i in 0..(MAX_OPEN_CARDS + 5) {
            again.add(card(&format!("c{i}"))).expect("add");
        }
        let all = again.all();
        assert_eq!(all.len(), MAX_OPEN_CARDS);
        assert_eq!(all[0].id, "c5", "the oldest went first");
        std::fs::write(dir.path().join("cards.json"), "garbage").expect("write");
        assert!(Cards::load(dir.path()).all().is_empty());
    }
}
