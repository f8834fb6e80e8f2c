//! Which groups the core says are paused, ordered by the core's generation.
//!
//! `group.paused` and `group.resumed` travel as separate notifications and can
//! arrive in either order; each carries the paused set's `generation`
//! (it grows by one with every change in the core), and so do the answers to
//! `scheduler/paused_groups` and a fire's `GROUP_PAUSED` refusal. Whatever
//! arrives, the view keeps, per group, the word with the highest generation:
//! an older word never undoes a newer one. Must never take a word without a
//! generation (it cannot be ordered).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
struct Known {
    /// Per group: paused or not, and the generation that said so.
    groups: HashMap<String, (bool, u64)>,
    /// The generation of the newest whole snapshot: every group it did not
    /// name was not paused then.
    floor: u64,
}

/// The groups the core says are paused.
#[derive(Default)]
pub struct PausedView {
    known: Mutex<Known>,
}

impl PausedView {
    /// Whether `group` is paused, as far as the newest word says.
    pub fn is_paused(&self, group: &str) -> bool {
        self.lock()
            .groups
            .get(group)
            .is_some_and(|(paused, _)| *paused)
    }

    /// Takes one group's word (an event, a refusal) said at `generation`;
    /// false when it is older than what is known.
    pub fn apply(&self, group: &str, paused: bool, generation: u64) -> bool {
        let mut known = self.lock();
        let newest = known
            .groups
            .get(group)
            .map_or(known.floor, |(_, at)| (*at).max(known.floor));
        if generation <= newest {
            return false;
        }
        known.groups.insert(group.to_owned(), (paused, generation));
        true
    }

    /// Takes the whole set the core answered at `generation`: `paused` are
    /// paused, every other group is not (unless a newer word says otherwise).
    pub fn replace(&self, paused: &[String], generation: u64) {
        let mut known = self.lock();
        if generation < known.floor {
            return;
        }
        known.floor = generation;
        known.groups.retain(|_, (_, at)| *at > generation);
        for group in paused {
            known
                .groups
                .entry(group.clone())
                .or_insert((true, generation));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_word_never_undoes_a_newer_one() {
        let view = PausedView::default();
        // Paused at 1, resumed at 2; the resume arrives first.
        assert!(view.apply("main", false, 2));
        assert!(!view.apply("main", true, 1), "the late pause is older");
        assert!(!view.is_paused("main"));
        // A refusal at 3 says paused; the resume at 4 lifts it, in any order.
        assert!(view.apply("main", false, 4));
        assert!(!view.apply("main", true, 3));
        assert!(!view.is_paused("main"));
        // The same generation twice is not news.
        assert!(view.apply("main", true, 5));
        assert!(!view.apply("main", false, 5));
        assert!(view.is_paused("main"));
    }

    #[test]
    fn a_snapshot_replaces_what_is_older_and_keeps_what_is_newer() {
        let view = PausedView::default();
        view.apply("a", true, 3);
        view.apply("b", true, 9);
        view.replace(&["c".to_owned()], 5);
        assert!(!view.is_paused("a"), "a was resumed by generation 5");
        assert!(view.is_paused("b"), "b's pause is newer than the snapshot");
        assert!(view.is_paused("c"));
        // Nothing older than the snapshot counts any more.
        assert!(!view.apply("a", true, 4));
        assert!(!view.is_paused("a"));
        assert!(view.apply("c", false, 6));
        assert!(!view.is_paused("c"));
        // An older snapshot is ignored.
        view.replace(&["a".to_owned()], 2);
        assert!(!view.is_paused("a"));
    }
}
