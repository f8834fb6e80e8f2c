//! Recurrence expansion (RFC 5545 §3.8.5, §3.8.4.4): the instances of a calendar's
//! events that overlap a window, walked by the plugin with rrule.
//!
//! Bounded: at most [`Limits::steps_per_event`] occurrences are walked per event (a
//! `FREQ=SECONDLY` rule from 1970 stops there), at most [`Limits::steps_per_call`]
//! over all the events of a call, and at most [`Limits::per_query`] instances are
//! kept per call; each limit is reported as truncation, never hit silently. DTSTART is always an instance (RFC 5545 §3.8.5.3); EXDATE removes, RDATE
//! adds, a VEVENT with RECURRENCE-ID replaces the instance it names.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::ics::{Event, Skipped, When};
use crate::zone::localize;

/// The bounds of one expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Occurrences walked per recurring event, from its DTSTART.
    pub steps_per_event: usize,
    /// Occurrences walked over all the events of one call (what is left of it,
    /// when a call expands several objects).
    pub steps_per_call: usize,
    /// Instances kept per call.
    pub per_query: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            steps_per_event: 50_000,
            steps_per_call: 1_000_000,
            per_query: 5_000,
        }
    }
}

/// When an instance starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// An all-day date (an end is exclusive).
    Day(NaiveDate),
    /// An instant, shown in the event's zone.
    At(DateTime<Tz>),
}

impl Moment {
    /// The instant, a date read as midnight in `zone`.
    pub fn instant(&self, zone: Tz) -> DateTime<Utc> {
        match self {
            Moment::Day(d) => localize(zone, d.and_time(NaiveTime::MIN)).with_timezone(&Utc),
            Moment::At(t) => t.with_timezone(&Utc),
        }
    }
}

/// One instance of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance<'a> {
    /// The VEVENT it comes from (an override's own, else the series').
    pub event: &'a Event,
    /// Its start.
    pub start: Moment,
    /// Its end.
    pub end: Moment,
    /// Whether it is one of a series.
    pub recurring: bool,
    /// The instance's original start, for one of a series.
    pub recurrence_id: Option<Moment>,
}

/// What [`expand`] found.
#[derive(Debug, Clone, Default)]
pub struct Expansion<'a> {
    /// The instances overlapping the window, by start.
    pub instances: Vec<Instance<'a>>,
    /// UIDs whose expansion stopped at a limit.
    pub truncated: Vec<String>,
    /// Whether the per-call limit was reached.
    pub query_truncated: bool,
    /// Events that could not be expanded.
    pub skipped: Vec<Skipped>,
    /// Occurrences walked.
    pub steps: usize,
}

/// The instances of `events` overlapping `[from, to)`; floating times and all-day dates
/// are read in `floating`.
pub fn expand<'a>(
    events: &'a [Event],
    floating: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limits: Limits,
) -> Expansion<'a> {
    let mut by_uid: BTreeMap<&str, (Option<&Event>, Vec<&Event>)> = BTreeMap::new();
    for event in events {
        let slot = by_uid.entry(event.uid.as_str()).or_default();
        if event.recurrence_id.is_some() {
            slot.1.push(event);
        } else if slot.0.is_none() {
            slot.0 = Some(event);
        }
    }
    let mut out = Expansion::default();
    for (uid, (master, overrides)) in by_uid {
        let overridden: HashSet<DateTime<Utc>> = overrides
            .iter()
            .filter_map(|o| o.recurrence_id.map(|r| key(r, floating)))
            .collect();
        for o in &overrides {
            let start = moment(o.start, floating);
            let end = end_of(o, start, floating);
            if overlaps(start, end, floating, from, to) {
                out.instances.push(Instance {
                    event: o,
                    start,
                    end,
                    recurring: true,
                    recurrence_id: o.recurrence_id.map(|r| moment(r, floating)),
                });
            }
        }
        let Some(master) = master else { continue };
        if master.rrules.is_empty() && master.rdates.is_empty() {
            let start = moment(master.start, floating);
            let end = end_of(master, start, floating);
            if overlaps(start, end, floating, from, to)
                && !overridden.contains(&key(master.start, floating))
            {
                out.instances.push(Instance {
                    event: master,
                    start,
                    end,
                    recurring: false,
                    recurrence_id: None,
                });
            }
            continue;
        }
        if let Err(reason) = series(master, &overridden, floating, from, to, limits, &mut out) {
            out.skipped.push(Skipped {
                uid: Some(uid.to_owned()),
                reason,
            });
        }
    }
    out.instances
        .sort_by_cached_key(|i| (i.start.instant(floating), i.event.uid.as_str()));
    if out.instances.len() > limits.per_query {
        out.instances.truncate(limits.per_query);
        out.query_truncated = true;
    }
    out
}

/// Walks one recurring event.
fn series<'a>(
    master: &'a Event,
    overridden: &HashSet<DateTime<Utc>>,
    floating: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limits: Limits,
    out: &mut Expansion<'a>,
) -> Result<(), String> {
    let all_day = matches!(master.start, When::Date(_));
    let carrier = carrier_zone(master.start, floating);
    let dtstart = carried(master.start, carrier);
    let mut set = rrule::RRuleSet::new(dtstart).limit();
    for text in &master.rrules {
        let text = rewrite_until(text, master.start, carrier)?;
        let rule = rrule::RRule::from_str(&text)
            .and_then(|r| r.validate(dtstart))
            .map_err(|e| format!("RRULE: {}", short(&e.to_string())))?;
        set = set.rrule(rule);
    }
    set = set.rdate(dtstart);
    for rdate in &master.rdates {
        set = set.rdate(carried(*rdate, carrier));
    }
    for exdate in &master.exdates {
        set = set.exdate(carried(*exdate, carrier));
    }
    let first = moment(master.start, floating);
    let length = end_of(master, first, floating);
    let mut previous = None;
    let allowed = limits
        .steps_per_event
        .min(limits.steps_per_call.saturating_sub(out.steps));
    for (step, occurrence) in set.into_iter().enumerate() {
        if step >= allowed {
            out.truncated.push(master.uid.clone());
            return Ok(());
        }
        out.steps += 1;
        if previous == Some(occurrence) {
            continue;
        }
        previous = Some(occurrence);
        let start = if all_day {
            Moment::Day(occurrence.with_timezone(&Utc).date_naive())
        } else {
            Moment::At(occurrence.with_timezone(&display_zone(master.start, floating)))
        };
        if start.instant(floating) >= to {
            break;
        }
        let end = shifted_end(first, length, start);
        if overridden.contains(&occurrence.with_timezone(&Utc)) {
            continue;
        }
        if overlaps(start, end, floating, from, to) {
            if out.instances.len() >= limits.per_query.saturating_mul(2) {
                out.query_truncated = true;
                return Ok(());
            }
            out.instances.push(Instance {
                event: master,
                start,
                end,
                recurring: true,
                recurrence_id: Some(start),
            });
        }
    }
    Ok(())
}

/// The end of the instance starting at `start`, the series' first being `first`..`length`.
fn shifted_end(first: Moment, length: Moment, start: Moment) -> Moment {
    match (first, length, start) {
        (Moment::Day(a), Moment::Day(b), Moment::Day(s)) => {
            s.checked_add_signed(b - a).map_or(start, Moment::Day)
        }
        (Moment::At(a), Moment::At(b), Moment::At(s)) => s
            .checked_add_signed(b.signed_duration_since(a))
            .map_or(start, Moment::At),
        _ => start,
    }
}

/// The zone rrule walks in: the event's, UTC for dates and UTC times.
fn carrier_zone(start: When, floating: Tz) -> Tz {
    match start {
        When::Date(_) | When::Utc(_) => Tz::UTC,
        When::Floating(_) => floating,
        When::Zoned(_, tz) => tz,
    }
}

/// The zone an instance is shown in.
fn display_zone(start: When, floating: Tz) -> Tz {
    match start {
        When::Zoned(_, tz) => tz,
        When::Floating(_) | When::Date(_) => floating,
        When::Utc(_) => Tz::UTC,
    }
}

/// `when` in rrule's zone type, in `carrier` (dates at midnight).
fn carried(when: When, carrier: Tz) -> DateTime<rrule::Tz> {
    let t = match when {
        When::Date(d) => localize(carrier, d.and_time(NaiveTime::MIN)),
        When::Floating(n) => localize(carrier, n),
        When::Utc(t) => t.with_timezone(&carrier),
        When::Zoned(n, tz) => localize(tz, n).with_timezone(&carrier),
    };
    t.with_timezone(&rrule::Tz::Tz(carrier))
}

/// The key an override's RECURRENCE-ID and a series' instance share: the instant
/// in the carrier zone rules.
fn key(when: When, floating: Tz) -> DateTime<Utc> {
    carried(when, carrier_zone(when, floating)).with_timezone(&Utc)
}

/// `when` as an instance's start.
pub fn moment(when: When, floating: Tz) -> Moment {
    match when {
        When::Date(d) => Moment::Day(d),
        When::Floating(n) => Moment::At(localize(floating, n)),
        When::Utc(t) => Moment::At(t.with_timezone(&Tz::UTC)),
        When::Zoned(n, tz) => Moment::At(localize(tz, n)),
    }
}

/// An event's end: DTEND, else DTSTART + DURATION, else a day (dates) or no length.
fn end_of(event: &Event, start: Moment, floating: Tz) -> Moment {
    if let Some(end) = event.end {
        let end = moment(end, floating);
        return match (start, end) {
            (Moment::Day(s), Moment::Day(e)) if e > s => end,
            (Moment::Day(s), _) => s
                .checked_add_signed(Duration::days(1))
                .map_or(start, Moment::Day),
            (Moment::At(s), Moment::At(e)) if e >= s => Moment::At(e.with_timezone(&s.timezone())),
            (Moment::At(_), _) => start,
        };
    }
    // Checked: a date or duration from a stranger's invitation must never
    // overflow the clock (a missing end is the start itself).
    match (start, event.duration) {
        (Moment::Day(s), Some(d)) if d.num_days() >= 1 => s
            .checked_add_signed(Duration::days(d.num_days()))
            .map_or(start, Moment::Day),
        (Moment::Day(s), _) => s
            .checked_add_signed(Duration::days(1))
            .map_or(start, Moment::Day),
        (Moment::At(s), Some(d)) if d >= Duration::zero() => {
            s.checked_add_signed(d).map_or(start, Moment::At)
        }
        (Moment::At(_), _) => start,
    }
}

/// Whether `[start, end)` meets `[from, to)`; an instant event meets it if it starts in it.
fn overlaps(
    start: Moment,
    end: Moment,
    floating: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> bool {
    let (s, e) = (start.instant(floating), end.instant(floating));
    if s == e {
        return s >= from && s < to;
    }
    s < to && e > from
}

/// The rule with a DATE or local UNTIL turned into the UTC form rrule requires.
fn rewrite_until(rule: &str, start: When, carrier: Tz) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in rule.trim().trim_start_matches("RRULE:").split(';') {
        let Some(value) = part
            .split_once('=')
            .filter(|(k, _)| k.eq_ignore_ascii_case("UNTIL"))
            .map(|(_, v)| v.trim())
        else {
            parts.push(part.to_owned());
            continue;
        };
        let until = if value.ends_with('Z') || value.ends_with('z') {
            value.to_ascii_uppercase()
        } else {
            let local = if value.len() == 8 {
                let day = NaiveDate::parse_from_str(value, "%Y%m%d")
                    .map_err(|_| "RRULE: UNTIL unreadable".to_owned())?;
                let time = if matches!(start, When::Date(_)) {
                    NaiveTime::MIN
                } else {
                    NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)
                };
                day.and_time(time)
            } else {
                chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
                    .map_err(|_| "RRULE: UNTIL unreadable".to_owned())?
            };
            localize(carrier, local)
                .with_timezone(&Utc)
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        };
        parts.push(format!("UNTIL={until}"));
    }
    Ok(parts.join(";"))
}

fn short(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ics::parse_object;
    use chrono::TimeZone;

    fn events(vevents: &str) -> Vec<Event> {
        let text = format!(
            "BEGIN:VCALENDAR\r\n{}\r\nEND:VCALENDAR\r\n",
            vevents.replace('\n', "\r\n")
        );
        let (events, skipped) = parse_object(&text);
        assert!(skipped.is_empty(), "{skipped:?}");
        events
    }

    fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .expect("time")
    }

    /// The starts of the instances of `vevents` in 2026-11-01..2027-01-01.
    fn starts_in(vevents: &str, zone: Tz) -> Vec<String> {
        let list = events(vevents);
        starts(&expand(
            &list,
            zone,
            utc(2026, 11, 1),
            utc(2027, 1, 1),
            Limits::default(),
        ))
    }

    fn starts(found: &Expansion) -> Vec<String> {
        found
            .instances
            .iter()
            .map(|i| match i.start {
                Moment::Day(d) => d.to_string(),
                Moment::At(t) => t.to_rfc3339(),
            })
            .collect()
    }

    #[test]
    fn floating_times_are_read_in_the_calendars_zone() {
        assert_eq!(
            starts_in("BEGIN:VEVENT\nUID:f\nDTSTART:20261201T090000\nRRULE:FREQ=DAILY;COUNT=2\nEND:VEVENT", Tz::America__New_York),
            ["2026-12-01T09:00:00-05:00", "2026-12-02T09:00:00-05:00"]
        );
    }

    #[test]
    fn rdates_add_and_dtstart_counts_once() {
        assert_eq!(
            starts_in("BEGIN:VEVENT\nUID:r\nDTSTART:20261201T090000Z\nRRULE:FREQ=WEEKLY;COUNT=2\nRDATE:20261201T090000Z,20261203T120000Z\nEND:VEVENT", Tz::UTC),
            [
                "2026-12-01T09:00:00+00:00",
                "2026-12-03T12:00:00+00:00",
                "2026-12-08T09:00:00+00:00"
            ]
        );
    }

    #[test]
    fn an_override_without_its_series_still_shows() {
        let list = events(
            "BEGIN:VEVENT\nUID:o\nRECURRENCE-ID:20261201T090000Z\nDTSTART:20261201T100000Z\nDTEND:20261201T110000Z\nSUMMARY:only this one\nEND:VEVENT",
        );
        let found = expand(
            &list,
            Tz::UTC,
            utc(2026, 11, 1),
            utc(2027, 1, 1),
            Limits::default(),
        );
        assert_eq!(starts(&found), ["2026-12-01T10:00:00+00:00"]);
        assert!(found.instances[0].recurring);
    }

    #[test]
    fn a_window_cuts_by_overlap_not_by_start() {
        let list = events(
            "BEGIN:VEVENT\nUID:long\nDTSTART:20261130T220000Z\nDTEND:20261201T020000Z\nEND:VEVENT",
        );
        let found = expand(
            &list,
            Tz::UTC,
            utc(2026, 12, 1),
            utc(2026, 12, 2),
            Limits::default(),
        );
        assert_eq!(found.instances.len(), 1);
        let found = expand(
            &list,
            Tz::UTC,
            utc(2026, 12, 2),
            utc(2026, 12, 3),
            Limits::default(),
        );
        assert!(found.instances.is_empty());
    }
}
