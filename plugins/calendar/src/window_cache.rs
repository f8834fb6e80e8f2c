//! The objects of recently asked windows, kept in memory and reused only while
//! the calendar's `getctag` is what it was when they were read.
//!
//! Why it is safe: the ctag is asked *before* the REPORT whose answer is kept, so
//! a change made between the two leaves the kept answer under an older ctag and
//! the next call reads again; a reuse needs the same calendar, the same window
//! to the second and the same ctag, so its answer is the one a new REPORT would
//! give. The service keeps a window only when the ctag and the REPORT reached the
//! same collection, the REPORT was whole (no budget cut, no failed member), and
//! never for longer than [`MAX_AGE`] (a server whose replicas lag cannot make a
//! wrong answer stick). Nothing goes to disk.
//!
//! Only a window asked before is worth the ctag's request: the first time a
//! window is asked, the service reads it without one and notes it ([`seen`]).
//!
//! [`seen`]: WindowCache::seen

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::ics::Skipped;
use crate::service::Stored;

/// Most server-answer bytes the kept windows may stand for, together. What they
/// hold in memory is about twice that (a year of 1,000 events: a 706 KiB answer,
/// 1.5 MB held; docs/calendar.md), so the plugin stays near 10 MB at most.
pub const MAX_KEPT_BYTES: usize = 1 << 20;
/// Longest a window is kept, whatever its ctag says.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// How many windows are remembered as asked once.
const SEEN: usize = 64;

/// One window as read: what a reuse must hand back and charge.
#[derive(Debug, Clone)]
pub struct Window {
    /// The objects (shared: a reuse copies them outside the lock).
    pub objects: Arc<Vec<Stored>>,
    /// What was skipped reading them.
    pub skipped: Vec<Skipped>,
    /// Bytes of the server's answer (charged to the call's budget on reuse).
    pub bytes: usize,
    /// Objects of the call's budget the read took.
    pub units: usize,
}

#[derive(Debug)]
struct Kept {
    calendar: String,
    ctag: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    at: Instant,
    window: Window,
}

#[derive(Debug, Default)]
struct State {
    kept: VecDeque<Kept>,
    seen: VecDeque<(String, DateTime<Utc>, DateTime<Utc>)>,
    no_ctag: HashSet<String>,
}

/// The kept windows, most recently used last.
#[derive(Debug)]
pub struct WindowCache {
    capacity: usize,
    state: Mutex<State>,
}

impl WindowCache {
    /// A cache of at most `capacity` windows (0 keeps nothing).
    pub fn new(capacity: usize) -> WindowCache {
        WindowCache {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether a window of `calendar` is worth a ctag request: windows are kept,
    /// the calendar answered its ctag before, and this window was asked before
    /// (else it is noted now, and the call reads without the ctag).
    pub fn seen(&self, calendar: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let mut state = self.lock();
        if state.no_ctag.contains(calendar) {
            return false;
        }
        let key = (calendar.to_owned(), from, to);
        if state.seen.contains(&key) {
            return true;
        }
        if state.seen.len() >= SEEN {
            state.seen.pop_front();
        }
        state.seen.push_back(key);
        false
    }

    /// `calendar` did not answer its ctag: not asked again until [`Self::clear`].
    pub fn without_ctag(&self, calendar: &str) {
        self.lock().no_ctag.insert(calendar.to_owned());
    }

    /// The window `[from, to)` of `calendar` read under `ctag`, if kept and young
    /// enough. Windows of `calendar` under another ctag are dropped for good.
    pub fn reuse(
        &self,
        calendar: &str,
        ctag: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<Window> {
        let mut state = self.lock();
        state
            .kept
            .retain(|k| (k.calendar != calendar || k.ctag == ctag) && k.at.elapsed() < MAX_AGE);
        let at = state
            .kept
            .iter()
            .position(|k| k.calendar == calendar && k.from == from && k.to == to)?;
        let hit = state.kept.remove(at)?;
        let window = hit.window.clone();
        state.kept.push_back(hit);
        Some(window)
    }

    /// Keeps `window` of `[from, to)` over `calendar`, read after the ctag was
    /// `ctag`; the least recently used windows make room.
    pub fn keep(
        &self,
        calendar: &str,
        ctag: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        window: Window,
    ) {
        if self.capacity == 0 || window.bytes > MAX_KEPT_BYTES {
            return;
        }
        let mut state = self.lock();
        state
            .kept
            .retain(|k| k.calendar != calendar || (k.ctag == ctag && (k.from, k.to) != (from, to)));
        let mut total: usize = state.kept.iter().map(|k| k.window.bytes).sum();
        while !state.kept.is_empty()
            && (state.kept.len() >= self.capacity || total + window.bytes > MAX_KEPT_BYTES)
        {
            if let Some(old) = state.kept.pop_front() {
                total -= old.window.bytes;
            }
        }
        state.kept.push_back(Kept {
            calendar: calendar.to_owned(),
            ctag: ctag.to_owned(),
            from,
            to,
            at: Instant::now(),
            window,
        });
    }

    /// Forgets every window and what calendars answered (after this plugin
    /// wrote to a calendar, or found the calendars again).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.kept.clear();
        state.no_ctag.clear();
    }

    /// How many windows are kept.
    pub fn len(&self) -> usize {
        self.lock().kept.len()
    }

    /// Whether no window is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::href::Url;

    fn at(day: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0)
            .single()
            .expect("day")
    }

    fn window(n: usize, bytes: usize) -> Window {
        Window {
            objects: Arc::new(vec![Stored {
                calendar: "Work".into(),
                floating: chrono_tz::UTC,
                url: Url::parse(&format!("http://127.0.0.1/cal/e{n}.ics")).expect("url"),
                etag: Some(format!("\"{n}\"")),
                events: Vec::new(),
            }]),
            skipped: Vec::new(),
            bytes,
            units: 1,
        }
    }

    #[test]
    fn reused_only_for_the_same_calendar_window_and_ctag() {
        let cache = WindowCache::new(8);
        cache.keep("/a/", "c1", at(1), at(8), window(1, 100));
        assert!(cache.reuse("/a/", "c1", at(1), at(8)).is_some());
        assert!(cache.reuse("/b/", "c1", at(1), at(8)).is_none());
        assert!(cache.reuse("/a/", "c1", at(1), at(9)).is_none());
        assert!(cache.reuse("/a/", "c1", at(2), at(8)).is_none());
        // Another ctag: the kept window is dropped for good.
        assert!(cache.reuse("/a/", "c2", at(1), at(8)).is_none());
        assert!(cache.reuse("/a/", "c1", at(1), at(8)).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn the_least_recently_used_window_makes_room() {
        let cache = WindowCache::new(2);
        cache.keep("/a/", "c", at(1), at(2), window(1, 10));
        cache.keep("/a/", "c", at(2), at(3), window(2, 10));
        assert!(cache.reuse("/a/", "c", at(1), at(2)).is_some());
        cache.keep("/a/", "c", at(3), at(4), window(3, 10));
        assert_eq!(cache.len(), 2);
        assert!(cache.reuse("/a/", "c", at(2), at(3)).is_none());
        assert!(cache.reuse("/a/", "c", at(1), at(2)).is_some());
    }

    #[test]
    fn bytes_are_bounded_and_zero_capacity_keeps_nothing() {
        let cache = WindowCache::new(8);
        cache.keep("/a/", "c", at(1), at(2), window(1, MAX_KEPT_BYTES + 1));
        assert!(cache.is_empty());
        cache.keep("/a/", "c", at(1), at(2), window(1, MAX_KEPT_BYTES / 2 + 1));
        cache.keep("/b/", "c", at(1), at(2), window(2, MAX_KEPT_BYTES / 2 + 1));
        assert_eq!(cache.len(), 1, "the first made room for the second");
        assert!(cache.reuse("/b/", "c", at(1), at(2)).is_some());
        let off = WindowCache::new(0);
        off.keep("/a/", "c", at(1), at(2), window(1, 1));
        assert!(off.is_empty());
        assert!(!off.seen("/a/", at(1), at(2)));
        assert!(
            !off.seen("/a/", at(1), at(2)),
            "never worth a ctag when off"
        );
    }

    #[test]
    fn a_newer_ctag_replaces_the_calendars_older_windows() {
        let cache = WindowCache::new(8);
        cache.keep("/a/", "c1", at(1), at(2), window(1, 1));
        cache.keep("/a/", "c1", at(2), at(3), window(2, 1));
        cache.keep("/b/", "c1", at(1), at(2), window(3, 1));
        cache.keep("/a/", "c2", at(1), at(2), window(4, 1));
        assert_eq!(cache.len(), 2);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_window_is_worth_a_ctag_from_its_second_asking_and_not_without_one() {
        let cache = WindowCache::new(8);
        assert!(!cache.seen("/a/", at(1), at(2)), "first asking: noted");
        assert!(cache.seen("/a/", at(1), at(2)));
        assert!(!cache.seen("/a/", at(1), at(3)), "another window");
        cache.without_ctag("/a/");
        assert!(!cache.seen("/a/", at(1), at(2)));
        cache.clear();
        assert!(cache.seen("/a/", at(1), at(2)), "asked again after a clear");
        for day in 3..28 {
            for end in (day + 1)..(day + 4) {
                cache.seen("/b/", at(day), at(end.min(28)));
            }
        }
        assert!(
            !cache.seen("/a/", at(1), at(2)),
            "forgotten past SEEN windows"
        );
    }
}
