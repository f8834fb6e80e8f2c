//! `calendar_create_event`: a fresh UID, never overwriting (the deleting tool is
//! `delete`).
//!
//! Must never: write a text the checks in `write` refused.

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::CalError;
use crate::service::Account;
use crate::times::{self, Given};
use crate::write::{self, NewEvent, Span};
use crate::zone;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateArgs {
    title: String,
    start: String,
    end: String,
    tz: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    attendees: Vec<String>,
    #[serde(default)]
    calendar: Option<String>,
}

pub(crate) fn create(account: &Account, args: CreateArgs) -> Result<Value, CalError> {
    let tz = zone::iana(args.tz.trim()).ok_or_else(|| {
        CalError::invalid(
            "tz",
            format!(
                "`{}` is not an IANA time zone (e.g. Europe/Berlin)",
                args.tz
            ),
        )
    })?;
    let title = write::line("title", &args.title, write::MAX_TITLE_CHARS)?;
    if title.is_empty() {
        return Err(CalError::invalid("title", "`title` is empty"));
    }
    let span = span(&args.start, &args.end, tz)?;
    let location = args
        .location
        .as_deref()
        .map(|l| write::line("location", l, write::MAX_LOCATION_CHARS))
        .transpose()?;
    let description = args
        .description
        .as_deref()
        .map(|d| write::paragraph("description", d, write::MAX_DESCRIPTION_CHARS))
        .transpose()?;
    if args.attendees.len() > write::MAX_ATTENDEES {
        return Err(CalError::invalid(
            "attendees",
            format!("at most {} attendees", write::MAX_ATTENDEES),
        ));
    }
    let attendees = args
        .attendees
        .iter()
        .map(|a| write::address("attendees", a))
        .collect::<Result<Vec<_>, _>>()?;
    let organizer = if attendees.is_empty() {
        None
    } else {
        Some(organizer(account)?)
    };
    let calendar = account.target(args.calendar.as_deref())?;
    let uid = format!("{}@carapace", random_hex(16)?);
    let event = NewEvent {
        uid: uid.clone(),
        title,
        span,
        tz: tz.name().to_owned(),
        location,
        description,
        attendees: attendees.clone(),
        organizer,
    };
    account.create(&calendar, &uid.replace('@', "-"), &write::to_ics(&event))?;
    let (start, end) = match span {
        Span::Days(a, b) => (a.to_string(), b.to_string()),
        Span::Times(a, b) => (
            a.with_timezone(&tz).to_rfc3339(),
            b.with_timezone(&tz).to_rfc3339(),
        ),
    };
    Ok(json!({
        "created": true,
        "uid": uid,
        "calendar": calendar.name,
        "title": event.title,
        "start": start,
        "end": end,
        "tz": tz.name(),
        "all_day": matches!(span, Span::Days(..)),
        "attendees": attendees,
    }))
}

/// `start`/`end` in `tz`: two days (all day, `end` the last day) or two times.
fn span(start: &str, end: &str, tz: Tz) -> Result<Span, CalError> {
    match (times::parse("start", start)?, times::parse("end", end)?) {
        (Given::Day(a), Given::Day(b)) => {
            if b < a {
                return Err(CalError::invalid("end", "`end` is before `start`"));
            }
            if (b - a).num_days() > 366 {
                return Err(CalError::invalid(
                    "end",
                    "an event may last at most 366 days",
                ));
            }
            Ok(Span::Days(a, b))
        }
        (Given::Day(_), _) | (_, Given::Day(_)) => Err(CalError::invalid(
            "end",
            "`start` and `end` must both be days (all day) or both be times",
        )),
        (a, b) => {
            let (a, b) = (a.instant(tz), b.instant(tz));
            if b <= a {
                return Err(CalError::invalid("end", "`end` must be after `start`"));
            }
            if b - a > chrono::Duration::days(366) {
                return Err(CalError::invalid(
                    "end",
                    "an event may last at most 366 days",
                ));
            }
            Ok(Span::Times(a, b))
        }
    }
}

fn organizer(account: &Account) -> Result<String, CalError> {
    let candidate = account
        .config
        .email
        .clone()
        .unwrap_or_else(|| account.config.username.clone());
    write::address("attendees", &candidate).map_err(|_| {
        CalError::Config("inviting attendees needs the organizer's address: set `email` in the calendar plugin's config".into())
    })
}

fn random_hex(bytes: usize) -> Result<String, CalError> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|_| CalError::Config("no randomness for a UID".into()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
