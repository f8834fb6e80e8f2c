//! When a task fires: a 5-field cron pattern or one instant (`at`), in the
//! task's IANA zone, every instant computed and stored in UTC.
//!
//! DST, by the pattern's hour field (docs/scheduler.md, "Time"):
//! - **Listed hours** (a single hour, a list, a range, or a step over part of
//!   the day: `30 2 * * *`, `30 2,14 * * *`, `0 1-3 * * *`, `0 1-5/2 * * *`):
//!   each local time the pattern names runs once. One that does not exist
//!   (spring forward) runs at the first valid minute after the gap (several
//!   such times, once); one that happens twice (fall back) runs at its first
//!   occurrence. The pattern is walked on the local calendar and each local
//!   time placed in the zone ([`local_instant`]).
//! - **Every hour** (`*` or `*/n`: `*/15 * * * *`, `0 */2 * * *`, `@hourly`):
//!   the pattern keeps its pace in real time (croner's walk in the zone): its
//!   slots in the gap do not exist, and in the repeated hour it runs in both
//!   passes (each a different instant).
//!
//! An `at` given as a local time follows the listed-hours rules. Must never
//! accept a pattern that fires more often than once a minute, nor panic on any
//! text.
use std::panic::{catch_unwind, AssertUnwindSafe};

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{civil, SignedDuration, Timestamp};

use crate::error::Invalid;

/// Longest cron text accepted, in bytes.
pub const MAX_CRON_BYTES: usize = 200;
/// Longest zone name accepted, in bytes.
pub const MAX_TZ_BYTES: usize = 64;

/// Most local times one step looks at before it gives up (a fold or a gap
/// holds at most a few hours of a pattern's minutes).
const MAX_LOCAL_STEPS: usize = 4096;

/// What a task's schedule is.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A recurring 5-field cron pattern (its text as given, trimmed), and how
    /// its hour field meets DST.
    Cron(String, Box<Cron>, Hours),
    /// One instant.
    At(Timestamp),
}

/// How a cron pattern's hour field meets a DST change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    /// `*` or `*/n`: real-time pace (both passes of a repeated hour, nothing in a gap).
    Every,
    /// Named hours: each local time once (a gap's at its end, a repeat at its first).
    Listed,
}

/// How `text`'s hour field meets DST (after a nickname is read as croner reads it).
pub fn hours_of(text: &str) -> Hours {
    let text = text.trim();
    let hour = if text.eq_ignore_ascii_case("@hourly") {
        "*"
    } else if text.starts_with('@') {
        // @daily, @weekly, @monthly, @yearly, @annually: midnight.
        "0"
    } else {
        text.split_whitespace().nth(1).unwrap_or("*")
    };
    let every = hour == "*"
        || hour
            .strip_prefix("*/")
            .is_some_and(|step| !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()));
    if every {
        Hours::Every
    } else {
        Hours::Listed
    }
}

/// Which way [`Timing::step`] looks.
#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Backward,
}

/// A schedule in its zone.
#[derive(Debug, Clone)]
pub struct Timing {
    schedule: Schedule,
    zone: TimeZone,
    zone_name: String,
}

/// The IANA zone `name`, from the compiled-in tz database.
pub fn zone(name: &str) -> Result<TimeZone, Invalid> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_TZ_BYTES {
        return Err(Invalid::new(
            "tz",
            "an IANA time zone name, e.g. Europe/Berlin or UTC",
        ));
    }
    jiff::tz::db()
        .get(name)
        .map_err(|_| Invalid::new("tz", format!("unknown time zone `{}`", name.escape_debug())))
}

/// Parses a cron pattern: exactly 5 fields (or a nickname such as `@daily`).
pub fn parse_cron(text: &str) -> Result<Cron, Invalid> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_CRON_BYTES {
        return Err(Invalid::new(
            "cron",
            "5 fields: minute hour day-of-month month day-of-week",
        ));
    }
    if !text.starts_with('@') {
        let fields = text.split_whitespace().count();
        if fields != 5 {
            return Err(Invalid::new(
                "cron",
                format!(
                    "{fields} fields; exactly 5 are accepted (minute hour day-of-month month \
                     day-of-week): a task fires at most once a minute, so no seconds field"
                ),
            ));
        }
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    match catch_unwind(AssertUnwindSafe(|| parser.parse(text))) {
        Ok(Ok(cron)) => Ok(cron),
        Ok(Err(e)) => Err(Invalid::new("cron", format!("not a cron pattern: {e}"))),
        Err(_) => Err(Invalid::new("cron", "not a cron pattern")),
    }
}

/// Parses `at`: an RFC 3339 instant with its offset (`2026-12-24T18:00:00+01:00`,
/// `...Z`), or a local time in `zone` (`2026-12-24T18:00`).
pub fn parse_at(text: &str, zone: &TimeZone) -> Result<Timestamp, Invalid> {
    let text = text.trim();
    if text.len() > 64 {
        return Err(Invalid::new(
            "at",
            "an RFC 3339 time, e.g. 2026-12-24T18:00:00+01:00",
        ));
    }
    let instant = if let Ok(instant) = text.parse::<Timestamp>() {
        instant
    } else if let Ok(local) = text.parse::<civil::DateTime>() {
        local_instant(local, zone)
            .ok_or_else(|| Invalid::new("at", "that local time cannot be placed in the zone"))?
    } else {
        return Err(Invalid::new(
            "at",
            "an RFC 3339 time with its offset (2026-12-24T18:00:00+01:00) or a local time in `tz` (2026-12-24T18:00)",
        ));
    };
    // Whole seconds: a fire id names its second.
    Timestamp::from_second(instant.as_second()).map_err(|_| Invalid::new("at", "out of range"))
}

/// A local time's instant in `zone`: in a gap the first instant after it, in a
/// fold the first occurrence.
pub fn local_instant(local: civil::DateTime, zone: &TimeZone) -> Option<Timestamp> {
    match zone.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset the local time lies before the transition;
            // the transition is the gap's end, the first valid minute.
            let early = after.to_timestamp(local).ok()?;
            zone.following(early).next().map(|t| t.timestamp())
        }
    }
}

impl Timing {
    /// A schedule from exactly one of `cron` and `at`, in `tz`.
    pub fn parse(cron: Option<&str>, at: Option<&str>, tz: &str) -> Result<Timing, Invalid> {
        let zone = zone(tz)?;
        let schedule = match (cron, at) {
            (Some(cron), None) => Schedule::Cron(
                cron.trim().to_owned(),
                Box::new(parse_cron(cron)?),
                hours_of(cron),
            ),
            (None, Some(at)) => Schedule::At(parse_at(at, &zone)?),
            _ => {
                return Err(Invalid::new(
                    "cron",
                    "give exactly one of `cron` (recurring) or `at` (once)",
                ))
            }
        };
        Ok(Timing {
            schedule,
            zone,
            zone_name: tz.trim().to_owned(),
        })
    }

    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Whether it recurs.
    pub fn recurring(&self) -> bool {
        matches!(self.schedule, Schedule::Cron(..))
    }

    /// The zone's name as given.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        self.step(after, Direction::Forward)
    }

    /// The last slot strictly before `before`.
    pub fn previous_before(&self, before: Timestamp) -> Option<Timestamp> {
        self.step(before, Direction::Backward)
    }

    /// The nearest slot strictly after (forward) or before (backward) `from`.
    fn step(&self, from: Timestamp, direction: Direction) -> Option<Timestamp> {
        let beyond = |slot: Timestamp| match direction {
            Direction::Forward => slot > from,
            Direction::Backward => slot < from,
        };
        match &self.schedule {
            Schedule::At(at) => beyond(*at).then_some(*at),
            Schedule::Cron(_, cron, Hours::Every) => {
                let start = from.to_zoned(self.zone.clone());
                find(cron, &start, direction)
                    .map(|zoned| zoned.timestamp())
                    .filter(|slot| beyond(*slot))
            }
            Schedule::Cron(_, cron, Hours::Listed) => self.step_listed(cron, from, direction),
        }
    }

    /// [`Timing::step`] for named hours: walks the pattern's local times (on a
    /// calendar without DST) from `from`'s, and places each in the zone, until
    /// one lands strictly beyond `from`. Placing is monotone (a gap's times go
    /// to its end, a repeat's to its first pass), so the first such is the answer.
    fn step_listed(&self, cron: &Cron, from: Timestamp, direction: Direction) -> Option<Timestamp> {
        let local = from.to_zoned(self.zone.clone());
        let mut wall = local.datetime();
        if let Direction::Backward = direction {
            // In the second pass of a repeated hour, local times up to the
            // fold's end were placed in its first pass, before `from`.
            if let AmbiguousOffset::Fold { before, after } =
                self.zone.to_ambiguous_timestamp(wall).offset()
            {
                if local.offset() == after {
                    let fold = SignedDuration::from_secs(i64::from(
                        before.seconds().saturating_sub(after.seconds()),
                    ));
                    wall = wall.checked_add(fold).ok()?;
                }
            }
        }
        let mut cursor = wall.to_zoned(TimeZone::UTC).ok()?;
        for _ in 0..MAX_LOCAL_STEPS {
            cursor = find(cron, &cursor, direction)?;
            let slot = local_instant(cursor.datetime(), &self.zone)?;
            let beyond = match direction {
                Direction::Forward => slot > from,
                Direction::Backward => slot < from,
            };
            if beyond {
                return Some(slot);
            }
        }
        None
    }

    /// The slots in `(after, until]`, at most `max`, oldest first.
    pub fn slots(&self, after: Timestamp, until: Timestamp, max: usize) -> Vec<Timestamp> {
        let mut found = Vec::new();
        let mut cursor = after;
        while found.len() < max {
            match self.next_after(cursor) {
                Some(next) if next <= until => {
                    found.push(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        found
    }

    /// `instant` as a local time in the task's zone, with its offset.
    pub fn local(&self, instant: Timestamp) -> String {
        instant
            .to_zoned(self.zone.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }
}

/// croner's next (or previous) match strictly beyond `start`, in `start`'s zone;
/// `None` when there is none (or croner panicked).
fn find(cron: &Cron, start: &jiff::Zoned, direction: Direction) -> Option<jiff::Zoned> {
    let found = catch_unwind(AssertUnwindSafe(|| match direction {
        Direction::Forward => cron.find_next_occurrence(start, false),
        Direction::Backward => cron.find_previous_occurrence(start, false),
    }));
    found.ok()?.ok()
}

/// `instant` as RFC 3339 UTC, whole seconds (`2026-12-03T10:00:00Z`).
pub fn utc(instant: Timestamp) -> String {
    instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn five_fields_only_and_known_zones_only() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("@daily").is_ok());
        for bad in [
            "* * * * * *",
            "* * * *",
            "",
            "0 0 * * * 2030",
            "61 * * * *",
            "x",
        ] {
            let error = parse_cron(bad).expect_err(bad);
            assert_eq!(error.field, "cron", "{bad}");
        }
        assert!(zone("Europe/Berlin").is_ok());
        assert_eq!(zone("Mars/Olympus").expect_err("unknown").field, "tz");
        assert_eq!(zone("").expect_err("empty").field, "tz");
    }

    #[test]
    fn only_a_star_or_a_step_over_the_whole_day_keeps_real_time() {
        for every in [
            "*/15 * * * *",
            "0 * * * *",
            "0 */2 * * *",
            "@hourly",
            "@HOURLY",
        ] {
            assert_eq!(hours_of(every), Hours::Every, "{every}");
        }
        for listed in [
            "30 2 * * *",
            "30 2,14 * * *",
            "0 1-3 * * *",
            "0 1-5/2 * * *",
            "0 0-23 * * *",
            "* 2 * * *",
            "@daily",
            "@weekly",
            "@yearly",
        ] {
            assert_eq!(hours_of(listed), Hours::Listed, "{listed}");
        }
    }

    #[test]
    fn at_takes_an_offset_or_a_local_time() {
        let berlin = zone("Europe/Berlin").expect("zone");
        assert_eq!(
            parse_at("2026-12-24T18:00:00+01:00", &berlin).expect("rfc3339"),
            ts("2026-12-24T17:00:00Z")
        );
        assert_eq!(
            parse_at("2026-12-24T18:00", &berlin).expect("local"),
            ts("2026-12-24T17:00:00Z")
        );
        // The spring-forward gap: 02:30 does not exist, the first valid minute is 03:00 (01:00Z).
        assert_eq!(
            parse_at("2026-03-29T02:30", &berlin).expect("gap"),
            ts("2026-03-29T01:00:00Z")
        );
        // The fall-back fold: 02:30 happens twice, the first is taken (00:30Z).
        assert_eq!(
            parse_at("2026-10-25T02:30", &berlin).expect("fold"),
            ts("2026-10-25T00:30:00Z")
        );
        assert_eq!(parse_at("tomorrow", &berlin).expect_err("text").field, "at");
    }
}
