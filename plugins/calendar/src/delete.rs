//! `calendar_delete_event {calendar, uid, title, start, etag?, whole_series?}`:
//! deletes exactly the one object the agent looked at.
//!
//! The person approves the call on a card that shows its arguments only, so the
//! arguments must say what goes: the object is looked up by `uid` in the one
//! `calendar` named, and deleted only if its title is `title`, it starts at
//! `start`, it still has `etag` (when given), and, if it repeats, `whole_series`
//! is true. Any mismatch is `VALIDATION_FAILED` naming the argument, and nothing
//! is deleted. The DELETE carries `If-Match` with the ETag just checked, so an
//! object changed between the check and the delete stays (a retriable conflict).
//!
//! Must never: delete in a calendar the call did not name, delete more than one
//! object, or delete an object whose title, start or series the card did not show.

use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::CalError;
use crate::expand::{moment, Moment};
use crate::ics::{Event, When};
use crate::service::{Account, Stored};
use crate::times::{self, Given};
use crate::write;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteArgs {
    calendar: String,
    uid: String,
    title: String,
    start: String,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    whole_series: bool,
}

pub(crate) fn delete(account: &Account, args: DeleteArgs) -> Result<Value, CalError> {
    let uid = write::line("uid", &args.uid, 512)?;
    if uid.is_empty() {
        return Err(CalError::invalid("uid", "`uid` is empty"));
    }
    let given = times::parse("start", &args.start)?;
    let calendar = account.exactly_one(&args.calendar)?;
    let mut found = account.find_uid(&calendar, &uid)?;
    if found.is_empty() {
        return Err(CalError::invalid(
            "uid",
            "no event with this uid in this calendar (list the events to see their uids)",
        ));
    }
    if let Some(etag) = &args.etag {
        found.retain(|object| object.etag.as_deref() == Some(etag.as_str()));
        if found.is_empty() {
            // The object is there but no longer as the agent saw it.
            return Err(CalError::Conflict);
        }
    }
    let [object] = found.as_slice() else {
        return Err(CalError::invalid(
            "etag",
            "several objects in this calendar hold this uid: pass the etag of the one to delete",
        ));
    };
    check(object, &uid, &args.title, given, args.whole_series)?;
    account.delete(&object.url, object.etag.as_deref())?;
    Ok(json!({
        "deleted": 1,
        "calendar": calendar.name,
        "uid": uid,
        "title": args.title,
        "start": args.start,
        "whole_series": args.whole_series,
    }))
}

/// Whether `object` is what the arguments say: its title, its start, and whether
/// it repeats.
fn check(
    object: &Stored,
    uid: &str,
    title: &str,
    given: Given,
    whole_series: bool,
) -> Result<(), CalError> {
    let all: Vec<&Event> = object.events.iter().filter(|e| e.uid == uid).collect();
    let Some(event) = all
        .iter()
        .find(|e| e.recurrence_id.is_none())
        .or_else(|| all.first())
    else {
        return Err(CalError::invalid("uid", "no event with this uid"));
    };
    if event.title != title {
        return Err(CalError::invalid(
            "title",
            "the event with this uid has another title: list the events again; nothing was deleted",
        ));
    }
    if !same_start(given, event, object.floating) {
        return Err(CalError::invalid(
            "start",
            "the event with this uid starts at another time (a repeating one: give its series_start); nothing was deleted",
        ));
    }
    let repeats = !event.rrules.is_empty() || !event.rdates.is_empty() || all.len() > 1;
    if repeats && !whole_series {
        return Err(CalError::invalid(
            "whole_series",
            "this event repeats and deleting removes every occurrence: pass whole_series: true (with the series_start) if that is meant; nothing was deleted",
        ));
    }
    Ok(())
}

/// Whether the call's `start` names the event's DTSTART: a day the same day, an
/// instant the same instant, a wall time the same time in the zone the event is
/// shown in (floating times in the calendar's zone `floating`).
fn same_start(given: Given, event: &Event, floating: Tz) -> bool {
    let stored = moment(event.start, floating);
    match (given, stored) {
        (Given::Day(day), Moment::Day(stored)) => day == stored,
        (Given::Day(_), Moment::At(_)) | (_, Moment::Day(_)) => false,
        (Given::Exact(t), Moment::At(stored)) => {
            t.with_timezone(&Utc) == stored.with_timezone(&Utc)
        }
        (Given::Local(_), Moment::At(stored)) => {
            let zone = match (event.shown_zone, event.start) {
                (Some(zone), _) => zone,
                (None, When::Zoned(_, zone)) => zone,
                (None, When::Floating(_)) => floating,
                (None, When::Utc(_) | When::Date(_)) => Tz::UTC,
            };
            given.instant(zone) == stored.with_timezone(&Utc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(start: When, shown: Option<Tz>) -> Event {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSUMMARY:s\r\nDTSTART:20261210T110000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (mut events, _) = crate::ics::parse_object(text);
        let mut event = events.remove(0);
        event.start = start;
        event.shown_zone = shown;
        event
    }

    fn given(text: &str) -> Given {
        times::parse("start", text).expect("a time")
    }

    #[test]
    fn a_start_matches_as_instant_wall_time_or_day() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let utc_made_in_berlin = event(
            When::Utc(
                chrono::DateTime::parse_from_rfc3339("2026-12-10T11:00:00Z")
                    .expect("time")
                    .with_timezone(&Utc),
            ),
            Some(berlin),
        );
        for same in [
            "2026-12-10T12:00:00+01:00",
            "2026-12-10T11:00:00Z",
            "2026-12-10T12:00",
        ] {
            assert!(
                same_start(given(same), &utc_made_in_berlin, Tz::UTC),
                "{same}"
            );
        }
        for other in [
            "2026-12-10T11:00",
            "2026-12-10",
            "2026-12-10T12:00:01+01:00",
        ] {
            assert!(
                !same_start(given(other), &utc_made_in_berlin, Tz::UTC),
                "{other}"
            );
        }
        let day = event(
            When::Date(chrono::NaiveDate::from_ymd_opt(2026, 12, 24).expect("day")),
            None,
        );
        assert!(same_start(given("2026-12-24"), &day, berlin));
        assert!(!same_start(given("2026-12-24T00:00"), &day, berlin));
        let floating = event(
            When::Floating(
                chrono::NaiveDate::from_ymd_opt(2026, 7, 1)
                    .and_then(|d| d.and_hms_opt(9, 0, 0))
                    .expect("time"),
            ),
            None,
        );
        assert!(same_start(given("2026-07-01T09:00"), &floating, berlin));
        assert!(same_start(given("2026-07-01T07:00:00Z"), &floating, berlin));
    }
}
