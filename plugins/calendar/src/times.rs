//! Times as calls give them: `2026-12-03` (a day), `2026-12-03T10:00[:00]` (a wall
//! time in a named zone) or RFC 3339 with an offset (`2026-12-03T09:00:00Z`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::error::CalError;
use crate::zone::localize;

/// A time as a call gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    /// A day.
    Day(NaiveDate),
    /// A wall time with no offset.
    Local(NaiveDateTime),
    /// An instant with its offset.
    Exact(DateTime<FixedOffset>),
}

/// Parses `text` for the argument `field`.
pub fn parse(field: &'static str, text: &str) -> Result<Given, CalError> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Given::Day(day));
    }
    if let Ok(exact) = DateTime::parse_from_rfc3339(text) {
        return Ok(Given::Exact(exact));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Given::Local(local));
        }
    }
    Err(CalError::invalid(
        field,
        format!("`{field}` must be YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or RFC 3339 with an offset"),
    ))
}

impl Given {
    /// The instant, wall times and days read in `zone` (a day is its midnight).
    pub fn instant(self, zone: Tz) -> DateTime<Utc> {
        match self {
            Given::Day(d) => localize(zone, d.and_time(NaiveTime::MIN)).with_timezone(&Utc),
            Given::Local(n) => localize(zone, n).with_timezone(&Utc),
            Given::Exact(t) => t.with_timezone(&Utc),
        }
    }
}

/// `[from, to)` from two arguments, checked: `to` after `from`, at most `max_days` apart.
pub fn window(
    from: &str,
    to: &str,
    zone: Tz,
    max_days: u32,
) -> Result<(DateTime<Utc>, DateTime<Utc>), CalError> {
    let start = parse("from", from)?.instant(zone);
    let end = match parse("to", to)? {
        // A day as the end includes that day.
        Given::Day(d) => Given::Day(d + chrono::Duration::days(1)).instant(zone),
        other => other.instant(zone),
    };
    if end <= start {
        return Err(CalError::invalid("to", "`to` must be after `from`"));
    }
    if end - start > chrono::Duration::days(i64::from(max_days)) {
        return Err(CalError::invalid(
            "to",
            format!("the window is over {max_days} days; ask for a shorter one"),
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_checked() {
        let berlin = Tz::Europe__Berlin;
        let (a, b) = window("2026-12-01", "2026-12-31", berlin, 366).expect("window");
        assert_eq!(a.to_rfc3339(), "2026-11-30T23:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-12-31T23:00:00+00:00");
        let err = window("2026-12-01", "2026-11-01", berlin, 366).expect_err("backwards");
        assert!(matches!(err, CalError::Invalid { field: "to", .. }));
        let err = window("2026-01-01", "2028-01-01", berlin, 366).expect_err("too long");
        assert!(matches!(err, CalError::Invalid { field: "to", .. }));
        let err = window("yesterday", "2026-01-01", berlin, 366).expect_err("bad");
        assert!(matches!(err, CalError::Invalid { field: "from", .. }));
        let err = window("2026-02-30", "2026-03-01", berlin, 366).expect_err("no such day");
        assert!(matches!(err, CalError::Invalid { field: "from", .. }));
        assert!(window("2026-12-01T10:00:00+01:00", "2026-12-01T12:00", berlin, 1).is_ok());
    }
}
