//! The objects of recently asked windows, kept in memory and reused only while
//! the calendar's `getctag` is what it was when they were read.
//!
//! Why it is safe: the ctag is asked *before* the REPORT whose answer is kept, so
//! a change made between the two leaves the kept answer under an older ctag and
//! the next call reads again; a reuse needs the same calendar, the same window
//! to the second and the same ctag, so its answer is the one a new REPORT would
//! give. A window the call's budget cut is never kept. Nothing goes to disk.
//! Servers that keep no ctag (none found at discovery) are asked every time.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::ics::Skipped;
use crate::service::Stored;

/// Most server-answer bytes the kept windows may stand for, together.
pub const MAX_KEPT_BYTES: usize = 4 << 20;

/// One kept window.
#[derive(Debug)]
struct Kept {
    calendar: String,
    ctag: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    objects: Vec<Stored>,
    skipped: Vec<Skipped>,
    bytes: usize,
}

/// What a reuse hands back: the objects and what was skipped reading them.
pub type Reused = (Vec<Stored>, Vec<Skipped>);

/// The kept windows, most recently used last.
#[derive(Debug)]
pub struct WindowCache {
    capacity: usize,
    kept: Mutex<VecDeque<Kept>>,
}

impl WindowCache {
    /// A cache of at most `capacity` windows (0 keeps nothing).
    pub fn new(capacity: usize) -> WindowCache {
        WindowCache {
            capacity,
            kept: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether it keeps anything at all.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The window `[from, to)` of `calendar` read under `ctag`, if kept. Windows
    /// of `calendar` under another ctag are dropped: they can never be reused.
    pub fn reuse(
        &self,
        calendar: &str,
        ctag: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<Reused> {
        let mut kept = self.lock();
        kept.retain(|k| k.calendar != calendar || k.ctag == ctag);
        let at = kept
            .iter()
            .position(|k| k.calendar == calendar && k.from == from && k.to == to)?;
        let hit = kept.remove(at)?;
        let answer = (hit.objects.clone(), hit.skipped.clone());
        kept.push_back(hit);
        Some(answer)
    }

    /// Keeps what a REPORT of `[from, to)` over `calendar` answered (`bytes` of
    /// answer), read after the ctag was `ctag`; the least recently used windows
    /// make room.
    #[allow(clippy::too_many_arguments)]
    pub fn keep(
        &self,
        calendar: &str,
        ctag: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        objects: &[Stored],
        skipped: &[Skipped],
        bytes: usize,
    ) {
        if !self.enabled() || bytes > MAX_KEPT_BYTES {
            return;
        }
        let mut kept = self.lock();
        kept.retain(|k| k.calendar != calendar || (k.ctag == ctag && (k.from, k.to) != (from, to)));
        let mut total: usize = kept.iter().map(|k| k.bytes).sum();
        while !kept.is_empty() && (kept.len() >= self.capacity || total + bytes > MAX_KEPT_BYTES) {
            if let Some(old) = kept.pop_front() {
                total -= old.bytes;
            }
        }
        kept.push_back(Kept {
            calendar: calendar.to_owned(),
            ctag: ctag.to_owned(),
            from,
            to,
            objects: objects.to_vec(),
            skipped: skipped.to_vec(),
            bytes,
        });
    }

    /// Forgets every window (after this plugin wrote to a calendar).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many windows are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no window is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
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

    fn object(n: usize) -> Stored {
        Stored {
            calendar: "Work".into(),
            floating: chrono_tz::UTC,
            url: Url::parse(&format!("http://127.0.0.1/cal/e{n}.ics")).expect("url"),
            etag: Some(format!("\"{n}\"")),
            events: Vec::new(),
        }
    }

    #[test]
    fn reused_only_for_the_same_calendar_window_and_ctag() {
        let cache = WindowCache::new(8);
        cache.keep("/a/", "c1", at(1), at(8), &[object(1)], &[], 100);
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
        cache.keep("/a/", "c", at(1), at(2), &[object(1)], &[], 10);
        cache.keep("/a/", "c", at(2), at(3), &[object(2)], &[], 10);
        assert!(cache.reuse("/a/", "c", at(1), at(2)).is_some());
        cache.keep("/a/", "c", at(3), at(4), &[object(3)], &[], 10);
        assert_eq!(cache.len(), 2);
        assert!(cache.reuse("/a/", "c", at(2), at(3)).is_none());
        assert!(cache.reuse("/a/", "c", at(1), at(2)).is_some());
    }

    #[test]
    fn bytes_are_bounded_and_zero_capacity_keeps_nothing() {
        let cache = WindowCache::new(8);
        cache.keep("/a/", "c", at(1), at(2), &[], &[], MAX_KEPT_BYTES + 1);
        assert!(cache.is_empty());
        cache.keep("/a/", "c", at(1), at(2), &[], &[], MAX_KEPT_BYTES / 2 + 1);
        cache.keep("/b/", "c", at(1), at(2), &[], &[], MAX_KEPT_BYTES / 2 + 1);
        assert_eq!(cache.len(), 1, "the first made room for the second");
        assert!(cache.reuse("/b/", "c", at(1), at(2)).is_some());
        let off = WindowCache::new(0);
        off.keep("/a/", "c", at(1), at(2), &[], &[], 1);
        assert!(off.is_empty());
        assert!(!off.enabled());
    }

    #[test]
    fn a_newer_ctag_replaces_the_calendars_older_windows() {
        let cache = WindowCache::new(8);
        cache.keep("/a/", "c1", at(1), at(2), &[], &[], 1);
        cache.keep("/a/", "c1", at(2), at(3), &[], &[], 1);
        cache.keep("/b/", "c1", at(1), at(2), &[], &[], 1);
        cache.keep("/a/", "c2", at(1), at(2), &[], &[], 1);
        assert_eq!(cache.len(), 2);
        cache.clear();
        assert!(cache.is_empty());
    }
}
