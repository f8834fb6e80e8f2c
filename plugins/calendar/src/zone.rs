//! Time zones: a TZID as calendars write it -> an IANA zone, and local times in a zone.
//!
//! Accepted: IANA ids (`Europe/Berlin`), the same behind a vendor prefix
//! (`/mozilla.org/20050126_1/Europe/Berlin`, `/citadel.org/.../Europe/Berlin`), and
//! the Windows names Outlook and Exchange write for the common zones. Anything else is
//! refused by name (the event is reported as skipped), never guessed.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// Windows zone names (Exchange, Outlook) -> IANA, from CLDR's windowsZones (territory 001).
const WINDOWS: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("India Standard Time", "Asia/Kolkata"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Eastern Standard Time", "America/New_York"),
    ("Central Standard Time", "America/Chicago"),
    ("Mountain Standard Time", "America/Denver"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
];

/// The IANA zone named exactly `name` (`UTC`, `Etc/UTC`, `Europe/Berlin`).
pub fn iana(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// The zone a calendar's TZID names, or `None` when it names no zone we know.
pub fn from_tzid(tzid: &str) -> Option<Tz> {
    let tzid = tzid.trim().trim_matches('"');
    if let Some(tz) = iana(tzid) {
        return Some(tz);
    }
    if let Some((_, iana_name)) = WINDOWS.iter().find(|(w, _)| w.eq_ignore_ascii_case(tzid)) {
        return iana(iana_name);
    }
    // A vendor prefix before an IANA id: try the last two, then three, path segments.
    let parts: Vec<&str> = tzid.split('/').filter(|p| !p.is_empty()).collect();
    (2..=3)
        .filter(|n| parts.len() >= *n)
        .find_map(|n| iana(&parts[parts.len() - n..].join("/")))
}

/// `local` in `tz`: the earlier of two readings in a fold, the time just after a gap.
pub fn localize(tz: Tz, local: NaiveDateTime) -> DateTime<Tz> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(early, _) => early,
        LocalResult::None => {
            // In a gap (spring forward): the wall time an hour later exists.
            let later = local + chrono::Duration::hours(1);
            match tz.from_local_datetime(&later) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t,
                LocalResult::None => tz.from_utc_datetime(&local),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tzids_map_to_iana_or_nothing() {
        assert_eq!(from_tzid("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(
            from_tzid("/mozilla.org/20050126_1/Europe/Berlin"),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(
            from_tzid("W. Europe Standard Time"),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(
            from_tzid("America/Argentina/Buenos_Aires"),
            Some(Tz::America__Argentina__Buenos_Aires)
        );
        assert_eq!(from_tzid("Custom Zone 7"), None);
        assert_eq!(from_tzid(""), None);
    }

    #[test]
    fn gaps_and_folds_have_one_reading() {
        let gap = NaiveDateTime::parse_from_str("2026-03-29T02:30:00", "%Y-%m-%dT%H:%M:%S")
            .expect("time");
        assert_eq!(
            localize(Tz::Europe__Berlin, gap).to_rfc3339(),
            "2026-03-29T03:30:00+02:00"
        );
        let fold = NaiveDateTime::parse_from_str("2026-10-25T02:30:00", "%Y-%m-%dT%H:%M:%S")
            .expect("time");
        assert_eq!(
            localize(Tz::Europe__Berlin, fold).to_rfc3339(),
            "2026-10-25T02:30:00+02:00"
        );
    }
}
