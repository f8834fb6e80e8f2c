//! Busy time from expanded instances: merged intervals, and the free gaps between them.

use chrono::{DateTime, Utc};

/// `[start, end)` intervals merged where they touch or overlap, clipped to the window.
pub fn merge(
    mut busy: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    busy.retain(|(s, e)| s < e && *s < to && *e > from);
    busy.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (s, e) in busy {
        let (s, e) = (s.max(from), e.min(to));
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// The gaps of `[from, to)` not covered by `busy` (merged).
pub fn gaps(
    busy: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut free = Vec::new();
    let mut at = from;
    for (s, e) in busy {
        if *s > at {
            free.push((at, *s));
        }
        at = at.max(*e);
    }
    if at < to {
        free.push((at, to));
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, 0, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn overlapping_and_touching_intervals_merge() {
        let busy = merge(
            vec![
                (t(9), t(10)),
                (t(10), t(11)),
                (t(13), t(15)),
                (t(14), t(14)),
                (t(5), t(7)),
            ],
            t(8),
            t(18),
        );
        assert_eq!(busy, [(t(9), t(11)), (t(13), t(15))]);
        assert_eq!(
            gaps(&busy, t(8), t(18)),
            [(t(8), t(9)), (t(11), t(13)), (t(15), t(18))]
        );
    }
}
