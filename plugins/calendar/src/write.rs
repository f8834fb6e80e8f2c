//! A new event as iCalendar text, written by icalendar (which escapes TEXT values),
//! from arguments already checked here: a title without control characters, e-mail
//! addresses of a plain shape, times that exist.
//!
//! Timed events are stored in UTC (`DTSTART:...Z`): valid without a VTIMEZONE on every
//! server; the zone the call named is kept in `X-CARAPACE-TZID`, and listings show
//! the event in it.

use chrono::{DateTime, NaiveDate, Utc};
use icalendar::{Calendar, Component, EventLike};

use crate::error::CalError;

/// Longest title.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest location.
pub const MAX_LOCATION_CHARS: usize = 1000;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
/// Most attendees.
pub const MAX_ATTENDEES: usize = 50;

/// When the new event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// All day, `first..=last`.
    Days(NaiveDate, NaiveDate),
    /// `[start, end)`.
    Times(DateTime<Utc>, DateTime<Utc>),
}

/// A new event, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Its UID.
    pub uid: String,
    /// `SUMMARY`.
    pub title: String,
    /// When.
    pub span: Span,
    /// The IANA zone the call named.
    pub tz: String,
    /// `LOCATION`.
    pub location: Option<String>,
    /// `DESCRIPTION`.
    pub description: Option<String>,
    /// `ATTENDEE`s (plain addresses).
    pub attendees: Vec<String>,
    /// `ORGANIZER` (required with attendees).
    pub organizer: Option<String>,
}

/// A one-line text: no control character at all; cut at `max` characters.
pub fn line(field: &'static str, text: &str, max: usize) -> Result<String, CalError> {
    if text.chars().any(char::is_control) {
        return Err(CalError::invalid(
            field,
            format!("`{field}` may not contain control characters (newlines, tabs)"),
        ));
    }
    if text.chars().count() > max {
        return Err(CalError::invalid(
            field,
            format!("`{field}` is over {max} characters"),
        ));
    }
    Ok(text.trim().to_owned())
}

/// A multi-line text: newlines and tabs kept, CR dropped, other control characters refused.
pub fn paragraph(field: &'static str, text: &str, max: usize) -> Result<String, CalError> {
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(CalError::invalid(
            field,
            format!("`{field}` may not contain control characters other than newlines and tabs"),
        ));
    }
    if text.chars().count() > max {
        return Err(CalError::invalid(
            field,
            format!("`{field}` is over {max} characters"),
        ));
    }
    Ok(text.replace('\r', ""))
}

/// A plain ASCII e-mail address: `local@domain` (the domain only letters, digits,
/// dots and hyphens), no spaces, quotes, `;`, `:`, `,` or controls.
pub fn address(field: &'static str, text: &str) -> Result<String, CalError> {
    let text = text.trim();
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_alphanumeric()
                    || matches!(
                        c,
                        '.' | '_'
                            | '-'
                            | '+'
                            | '%'
                            | '\''
                            | '!'
                            | '#'
                            | '$'
                            | '&'
                            | '*'
                            | '/'
                            | '='
                            | '?'
                            | '^'
                            | '`'
                            | '{'
                            | '|'
                            | '}'
                            | '~'
                    )
            })
    };
    // A domain is letters, digits, dots and hyphens, in ASCII: a look-alike
    // (`exаmple.com` with a Cyrillic а) shows on the card as the real one, and
    // `?`/`=` would turn the mailto into one with header fields.
    let domain_ok = |d: &str| {
        d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    match text.split_once('@') {
        Some((local, domain))
            if text.len() <= 254
                && text.is_ascii()
                && plain(local)
                && domain_ok(domain)
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(text.to_owned())
        }
        _ => Err(CalError::invalid(
            field,
            format!("`{text}` is not a plain e-mail address"),
        )),
    }
}

/// The VCALENDAR text of `event`.
pub fn to_ics(event: &NewEvent) -> String {
    let mut e = icalendar::Event::new();
    e.uid(&event.uid).summary(&event.title);
    match event.span {
        Span::Days(first, last) => {
            e.starts(first).ends(last + chrono::Duration::days(1));
        }
        Span::Times(start, end) => {
            e.starts(start).ends(end);
        }
    }
    e.add_property("X-CARAPACE-TZID", &event.tz);
    if let Some(location) = &event.location {
        e.location(location);
    }
    if let Some(description) = &event.description {
        e.description(description);
    }
    if !event.attendees.is_empty() {
        if let Some(organizer) = &event.organizer {
            e.add_property("ORGANIZER", format!("mailto:{organizer}"));
        }
        for attendee in &event.attendees {
            e.append_multi_property(
                icalendar::Property::new("ATTENDEE", format!("mailto:{attendee}"))
                    .add_parameter("ROLE", "REQ-PARTICIPANT")
                    .add_parameter("PARTSTAT", "NEEDS-ACTION")
                    .add_parameter("RSVP", "TRUE")
                    .done(),
            );
        }
    }
    let mut calendar = Calendar::new();
    calendar.push(e.done());
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ics::parse_object;

    #[test]
    fn hostile_text_stays_text() {
        let title = line("title", "a;b,c\\d <x>&]]> END:VEVENT", MAX_TITLE_CHARS).expect("title");
        let description =
            paragraph("description", "line1\r\nBEGIN:VEVENT\nUID:evil\n", 100).expect("d");
        let event = NewEvent {
            uid: "u1@carapace".into(),
            title: title.clone(),
            span: Span::Days(
                NaiveDate::from_ymd_opt(2026, 12, 24).expect("day"),
                NaiveDate::from_ymd_opt(2026, 12, 26).expect("day"),
            ),
            tz: "Europe/Berlin".into(),
            location: None,
            description: Some(description.clone()),
            attendees: vec!["bob@example.com".into()],
            organizer: Some("me@example.com".into()),
        };
        let text = to_ics(&event);
        let (events, skipped) = parse_object(&text);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(events.len(), 1, "{text}");
        assert_eq!(events[0].uid, "u1@carapace");
        assert_eq!(events[0].title, title);
        assert_eq!(events[0].description.as_deref(), Some(description.as_str()));
        assert_eq!(events[0].attendees, ["bob@example.com"]);
        assert!(line("title", "two\nlines", 10).is_err());
        assert!(address("attendees", "a@b.c;RSVP=TRUE:mailto:x@y.z").is_err());
        assert!(address("attendees", "\"a\"@b.c").is_err());
        assert!(address("attendees", "bob@example.com").is_ok());
        assert!(
            address("attendees", "bob@ex\u{430}mple.com").is_err(),
            "a look-alike"
        );
        assert!(address("attendees", "bob@example.com?cc=eve%40evil.test").is_err());
        assert!(address("attendees", "b\u{f6}b@example.com").is_err());
    }
}
