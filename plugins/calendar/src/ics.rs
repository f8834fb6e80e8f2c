//! Reading iCalendar (RFC 5545) objects into the events the plugin expands.
//!
//! Parsing is icalendar's; this module only picks the properties an event needs and
//! reads their date-time forms (DATE, floating, UTC, TZID). An object nested deeper
//! than [`MAX_DEPTH`] or larger than [`MAX_OBJECT_BYTES`] is refused before parsing.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use icalendar::parser::{self, Component, Property};

use crate::zone;

/// Largest calendar object read.
pub const MAX_OBJECT_BYTES: usize = 1 << 20;
/// Deepest nesting of BEGIN: lines accepted (VCALENDAR > VEVENT > VALARM is 3).
pub const MAX_DEPTH: usize = 8;
/// Longest text kept of a title, a location or a description.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Most RDATE/EXDATE values read per event.
pub const MAX_DATES: usize = 1000;

/// A DTSTART, DTEND, RDATE, EXDATE or RECURRENCE-ID value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `VALUE=DATE`: an all-day date.
    Date(NaiveDate),
    /// A local time with no zone: read in the calendar's (or the configured) zone.
    Floating(NaiveDateTime),
    /// `...Z`.
    Utc(DateTime<Utc>),
    /// `TZID=...`.
    Zoned(NaiveDateTime, Tz),
}

/// One VEVENT as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `UID`.
    pub uid: String,
    /// `SUMMARY`.
    pub title: String,
    /// `LOCATION`.
    pub location: Option<String>,
    /// `DESCRIPTION`.
    pub description: Option<String>,
    /// `STATUS` (`CONFIRMED`, `TENTATIVE`, `CANCELLED`).
    pub status: Option<String>,
    /// `TRANSP:TRANSPARENT` (does not block time).
    pub transparent: bool,
    /// `DTSTART`.
    pub start: When,
    /// `DTEND`.
    pub end: Option<When>,
    /// `DURATION`.
    pub duration: Option<Duration>,
    /// `RRULE` values.
    pub rrules: Vec<String>,
    /// `RDATE` values.
    pub rdates: Vec<When>,
    /// `EXDATE` values.
    pub exdates: Vec<When>,
    /// `RECURRENCE-ID`: this VEVENT overrides one instance.
    pub recurrence_id: Option<When>,
    /// `ORGANIZER` (the address after `mailto:`).
    pub organizer: Option<String>,
    /// `ATTENDEE` addresses.
    pub attendees: Vec<String>,
    /// `X-CARAPACE-TZID`: the zone an event this plugin stored in UTC was made in.
    pub shown_zone: Option<Tz>,
}

/// Why an event was skipped (named in the answer, with its UID when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The event's UID, if it had one.
    pub uid: Option<String>,
    /// Why.
    pub reason: String,
}

/// The VEVENTs of one calendar object, and those that could not be read.
pub fn parse_object(text: &str) -> (Vec<Event>, Vec<Skipped>) {
    let refuse = |reason: &str| {
        (
            Vec::new(),
            vec![Skipped {
                uid: None,
                reason: reason.to_owned(),
            }],
        )
    };
    if text.len() > MAX_OBJECT_BYTES {
        return refuse("calendar object over 1 MiB");
    }
    if nesting(text) > MAX_DEPTH {
        return refuse("calendar object nested too deep");
    }
    let unfolded = parser::unfold(text);
    let calendar = match parser::read_calendar(&unfolded) {
        Ok(c) => c,
        Err(_) => return refuse("not valid iCalendar"),
    };
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    for component in calendar.components.iter().filter(|c| c.name == "VEVENT") {
        match read_event(component) {
            Ok(event) => events.push(event),
            Err(reason) => skipped.push(Skipped {
                uid: prop(component, "UID").map(|p| clean(p.val.as_str())),
                reason,
            }),
        }
    }
    (events, skipped)
}

/// Deepest BEGIN: nesting, counted on raw lines.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for line in text.lines() {
        let upper = line.trim_start();
        if upper
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("BEGIN:"))
        {
            depth += 1;
            deepest = deepest.max(depth);
        } else if upper
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("END:"))
        {
            depth = depth.saturating_sub(1);
        }
    }
    deepest
}

fn read_event(c: &Component) -> Result<Event, String> {
    let uid = prop(c, "UID")
        .map(|p| clean(p.val.as_str()))
        .filter(|u| !u.is_empty())
        .ok_or("VEVENT without UID")?;
    let start = prop(c, "DTSTART")
        .ok_or("VEVENT without DTSTART")
        .and_then(|p| when(p).ok_or("DTSTART unreadable"))
        .map_err(str::to_owned)?;
    let start = start.map_err(|tzid| format!("unknown time zone `{}`", clean(&tzid)))?;
    let end = match prop(c, "DTEND") {
        Some(p) => Some(
            when(p)
                .ok_or("DTEND unreadable")?
                .map_err(|tzid| format!("unknown time zone `{}`", clean(&tzid)))?,
        ),
        None => None,
    };
    let duration = match prop(c, "DURATION") {
        Some(p) => Some(parse_duration(p.val.as_str()).ok_or("DURATION unreadable")?),
        None => None,
    };
    let dates = |name: &str| -> Result<Vec<When>, String> {
        let mut out = Vec::new();
        for p in c.properties.iter().filter(|p| p.name == name) {
            for value in p.val.as_str().split(',').take(MAX_DATES) {
                let one = Property {
                    name: p.name.clone(),
                    val: value.trim().into(),
                    params: p.params.clone(),
                };
                match when(&one) {
                    Some(Ok(w)) => out.push(w),
                    Some(Err(tzid)) => return Err(format!("unknown time zone `{}`", clean(&tzid))),
                    None => return Err(format!("{name} unreadable")),
                }
            }
        }
        out.truncate(MAX_DATES);
        Ok(out)
    };
    let recurrence_id = match prop(c, "RECURRENCE-ID") {
        Some(p) => Some(
            when(p)
                .ok_or("RECURRENCE-ID unreadable")?
                .map_err(|tzid| format!("unknown time zone `{}`", clean(&tzid)))?,
        ),
        None => None,
    };
    Ok(Event {
        title: text_prop(c, "SUMMARY").unwrap_or_default(),
        location: text_prop(c, "LOCATION"),
        description: text_prop(c, "DESCRIPTION"),
        status: prop(c, "STATUS").map(|p| clean(p.val.as_str()).to_ascii_uppercase()),
        transparent: prop(c, "TRANSP")
            .is_some_and(|p| p.val.as_str().eq_ignore_ascii_case("TRANSPARENT")),
        start,
        end,
        duration,
        rrules: c
            .properties
            .iter()
            .filter(|p| p.name == "RRULE")
            .map(|p| p.val.as_str().trim().to_owned())
            .take(4)
            .collect(),
        rdates: dates("RDATE")?,
        exdates: dates("EXDATE")?,
        recurrence_id,
        organizer: prop(c, "ORGANIZER").map(|p| address(p.val.as_str())),
        attendees: c
            .properties
            .iter()
            .filter(|p| p.name == "ATTENDEE")
            .take(500)
            .map(|p| address(p.val.as_str()))
            .collect(),
        shown_zone: prop(c, "X-CARAPACE-TZID").and_then(|p| zone::iana(p.val.as_str().trim())),
        uid,
    })
}

fn prop<'a>(c: &'a Component, name: &str) -> Option<&'a Property<'a>> {
    c.properties.iter().find(|p| p.name == name)
}

fn param<'a>(p: &'a Property, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|x| x.val.as_ref())
        .map(|v| v.as_str())
}

/// A TEXT property, unescaped, cut, without control characters other than newline and tab.
fn text_prop(c: &Component, name: &str) -> Option<String> {
    let p = prop(c, name)?;
    let value = p.val.clone().unescape_text();
    let cleaned: String = value
        .as_str()
        .chars()
        .filter(|ch| !ch.is_control() || *ch == '\n' || *ch == '\t')
        .take(MAX_TEXT_CHARS)
        .collect();
    Some(cleaned)
}

/// A short value without control characters, cut to 256 characters.
fn clean(value: &str) -> String {
    value
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect()
}

/// `mailto:a@b` -> `a@b`.
fn address(value: &str) -> String {
    let v = value.trim();
    let v = match (v.get(..7), v.get(7..)) {
        (Some(scheme), Some(rest)) if scheme.eq_ignore_ascii_case("mailto:") => rest,
        _ => v,
    };
    clean(v)
}

/// A date-time property: `None` if unreadable, `Some(Err(tzid))` for an unknown zone.
fn when(p: &Property) -> Option<Result<When, String>> {
    let value = p.val.as_str().trim();
    let is_date = param(p, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
        || (value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()));
    if is_date {
        return NaiveDate::parse_from_str(value, "%Y%m%d")
            .ok()
            .map(|d| Ok(When::Date(d)));
    }
    if let Some(utc) = value.strip_suffix('Z').or_else(|| value.strip_suffix('z')) {
        let t = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        return Some(Ok(When::Utc(t.and_utc())));
    }
    let local = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").ok()?;
    match param(p, "TZID") {
        None => Some(Ok(When::Floating(local))),
        Some(tzid) => Some(match zone::from_tzid(tzid) {
            Some(tz) => Ok(When::Zoned(local, tz)),
            None => Err(tzid.to_owned()),
        }),
    }
}

/// Longest DURATION accepted, in days.
pub const MAX_DURATION_DAYS: i64 = 366;

/// An RFC 5545 DURATION (`P1D`, `PT1H30M`, `-PT15M`, `P2W`), at most [`MAX_DURATION_DAYS`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    let rest = rest.strip_prefix('P')?;
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut in_time = false;
    for ch in rest.chars() {
        match ch {
            '0'..='9' if number.len() < 9 => number.push(ch),
            'T' if number.is_empty() => in_time = true,
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                let part = match (ch, in_time) {
                    ('W', false) => Duration::try_weeks(n)?,
                    ('D', false) => Duration::try_days(n)?,
                    ('H', true) => Duration::try_hours(n)?,
                    ('M', true) => Duration::try_minutes(n)?,
                    ('S', true) => Duration::try_seconds(n)?,
                    _ => return None,
                };
                total = total.checked_add(&part)?;
                // No event lasts longer; a stranger's invitation must not
                // overflow the clock when its end is computed.
                if total > Duration::days(MAX_DURATION_DAYS) {
                    return None;
                }
            }
            _ => return None,
        }
    }
    number.is_empty().then_some(total * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_long_or_too_large_is_refused_not_overflowed() {
        for huge in [
            "P99999999D",
            "P999999999W",
            "P367D",
            "PT999999999H",
            "P999999999W999999999D",
        ] {
            assert_eq!(parse_duration(huge), None, "{huge}");
        }
        assert_eq!(parse_duration("P366D"), Some(Duration::days(366)));
        assert_eq!(parse_duration("-PT15M"), Some(Duration::minutes(-15)));
    }

    #[test]
    fn an_event_reads_with_its_zone_and_recurrence() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a1\r\nSUMMARY:Tea \\; cake\\, \\nsoon\r\nDTSTART;TZID=Europe/Berlin:20261020T100000\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE;TZID=Europe/Berlin:20261027T100000,20261103T100000\r\nATTENDEE;CN=Bob:mailto:bob@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (events, skipped) = parse_object(text);
        assert!(skipped.is_empty(), "{skipped:?}");
        let e = &events[0];
        assert_eq!(e.title, "Tea ; cake, \nsoon");
        assert!(matches!(e.start, When::Zoned(_, Tz::Europe__Berlin)));
        assert_eq!(e.duration, Some(Duration::hours(1)));
        assert_eq!(e.exdates.len(), 2);
        assert_eq!(e.attendees, ["bob@example.com"]);
    }

    #[test]
    fn unknown_zones_and_garbage_are_skipped_by_name() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:z\r\nDTSTART;TZID=Mars/Olympus:20261020T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (events, skipped) = parse_object(text);
        assert!(events.is_empty());
        assert_eq!(skipped[0].uid.as_deref(), Some("z"));
        assert!(skipped[0].reason.contains("Mars/Olympus"));
        for garbage in [
            "",
            "BEGIN:",
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n",
            "\u{0}\u{1}",
        ] {
            let (events, _) = parse_object(garbage);
            assert!(events.is_empty());
        }
        let deep = "BEGIN:X\r\n".repeat(100_000);
        let (_, skipped) = parse_object(&deep);
        assert_eq!(skipped[0].reason, "calendar object nested too deep");
    }

    #[test]
    fn durations_read() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1W"), Some(Duration::weeks(1)));
        assert_eq!(parse_duration("-PT15M"), Some(Duration::minutes(-15)));
        assert_eq!(parse_duration("P1Y"), None);
        assert_eq!(parse_duration("PT99999999999H"), None);
    }
}
