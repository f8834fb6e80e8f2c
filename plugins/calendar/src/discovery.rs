//! Finding the calendars from a base URL: the base (or `/.well-known/caldav`,
//! RFC 6764 §5) -> `current-user-principal` (RFC 5397) -> `calendar-home-set`
//! (RFC 4791 §6.2.1) -> the home's members that are calendars holding events.

use crate::dav::{self, Resource};
use crate::error::CalError;
use crate::href::Url;
use crate::http::{Dav, Reply};

/// Most redirects followed in one discovery step.
const MAX_REDIRECTS: usize = 5;

/// A calendar collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Its URL.
    pub url: Url,
    /// `displayname`, else the last path segment.
    pub name: String,
    /// `calendar-description`.
    pub description: Option<String>,
    /// The components it holds (empty: the server did not say).
    pub components: Vec<String>,
    /// The zone of its floating times (`calendar-timezone`'s TZID), if it names one.
    pub time_zone: Option<String>,
    /// `getctag`, if the server keeps one.
    pub ctag: Option<String>,
    /// `sync-token`, if the server keeps one.
    pub sync_token: Option<String>,
}

impl Calendar {
    /// Whether it may hold VEVENTs.
    pub fn holds_events(&self) -> bool {
        self.components.is_empty()
            || self
                .components
                .iter()
                .any(|c| c.eq_ignore_ascii_case("VEVENT"))
    }

    fn from_resource(url: Url, r: &Resource) -> Calendar {
        let fallback = url
            .path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        Calendar {
            name: r.display_name.clone().unwrap_or(fallback),
            description: r.description.clone(),
            components: r.components.clone(),
            time_zone: r.timezone.as_deref().and_then(tzid_of),
            ctag: r.ctag.clone(),
            sync_token: r.sync_token.clone(),
            url,
        }
    }
}

/// The calendars of the account at the client's base URL.
pub fn calendars(dav: &Dav) -> Result<Vec<Calendar>, CalError> {
    let base = dav.base().clone();
    let (at, found) = match propfind(dav, &base, "0", dav::PROPFIND_PRINCIPAL) {
        Ok((at, found))
            if found
                .iter()
                .any(|r| r.principal.is_some() || !r.homes.is_empty() || r.is_calendar()) =>
        {
            (at, found)
        }
        Ok(_) | Err(CalError::Status { .. }) | Err(CalError::Malformed(_)) => {
            let well_known = base
                .join("/.well-known/caldav")
                .ok_or_else(|| CalError::Config("url".into()))?;
            propfind(dav, &well_known, "0", dav::PROPFIND_PRINCIPAL).map_err(|e| match e {
                CalError::Status { status, .. } if status < 500 && status != 429 => {
                    CalError::Discovery(format!(
                    "neither the url nor /.well-known/caldav is a CalDAV server (HTTP {status})"
                ))
                }
                other => other,
            })?
        }
        Err(other) => return Err(other),
    };
    let first = found.first().cloned().unwrap_or_default();
    if first.is_calendar() {
        // The url is a calendar itself.
        let (at, found) = propfind(dav, &at, "0", dav::PROPFIND_CALENDARS)?;
        return Ok(found
            .first()
            .map(|r| vec![Calendar::from_resource(at, r)])
            .unwrap_or_default());
    }
    let mut homes = first.homes.clone();
    if homes.is_empty() {
        let principal = first.principal.clone().ok_or_else(|| {
            CalError::Discovery("the server names no current-user-principal".into())
        })?;
        let principal = at
            .join(&principal)
            .ok_or_else(|| CalError::Malformed("the principal href is not a URL".into()))?;
        let (at_principal, found) = propfind(dav, &principal, "0", dav::PROPFIND_PRINCIPAL)?;
        homes = found.first().map(|r| r.homes.clone()).unwrap_or_default();
        if homes.is_empty() {
            return Err(CalError::Discovery(
                "the principal names no calendar-home-set".into(),
            ));
        }
        return list_homes(dav, &at_principal, &homes);
    }
    list_homes(dav, &at, &homes)
}

fn list_homes(dav: &Dav, at: &Url, homes: &[String]) -> Result<Vec<Calendar>, CalError> {
    let mut calendars = Vec::new();
    for home in homes.iter().take(4) {
        let home = at
            .join(home)
            .ok_or_else(|| CalError::Malformed("the calendar-home-set href is not a URL".into()))?;
        let (home_at, members) = propfind(dav, &home, "1", dav::PROPFIND_CALENDARS)?;
        for member in members.iter().filter(|m| m.is_calendar()) {
            let Some(url) = home_at.join(&member.href) else {
                continue;
            };
            let calendar = Calendar::from_resource(url, member);
            if calendar.holds_events()
                && !calendars.iter().any(|c: &Calendar| c.url == calendar.url)
            {
                calendars.push(calendar);
            }
        }
    }
    Ok(calendars)
}

/// PROPFIND with `depth`, following redirects; the URL that answered and its resources.
pub fn propfind(
    dav: &Dav,
    url: &Url,
    depth: &str,
    body: &str,
) -> Result<(Url, Vec<Resource>), CalError> {
    let (at, reply) = send_following(dav, "PROPFIND", url, depth, body)?;
    if reply.status != 207 {
        return Err(CalError::Status {
            status: reply.status,
            step: "PROPFIND",
        });
    }
    Ok((at, dav::parse_multistatus(&reply.body)?))
}

/// `method` with a `Depth` and an XML body, following up to [`MAX_REDIRECTS`] redirects.
pub fn send_following(
    dav: &Dav,
    method: &str,
    url: &Url,
    depth: &str,
    body: &str,
) -> Result<(Url, Reply), CalError> {
    let mut url = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let reply = dav.send(
            method,
            &url,
            &[
                ("depth", depth),
                ("content-type", "application/xml; charset=utf-8"),
            ],
            body.as_bytes(),
        )?;
        if matches!(reply.status, 301 | 302 | 303 | 307 | 308) {
            let location = reply
                .location
                .as_deref()
                .ok_or_else(|| CalError::Malformed("a redirect without Location".into()))?;
            url = url
                .join(location)
                .ok_or_else(|| CalError::Malformed("a redirect to something not a URL".into()))?;
            continue;
        }
        return Ok((url, reply));
    }
    Err(CalError::Malformed("too many redirects".into()))
}

/// The TZID of the first VTIMEZONE in `calendar-timezone`, if any.
fn tzid_of(vcalendar: &str) -> Option<String> {
    vcalendar
        .lines()
        .find_map(|line| line.trim().strip_prefix("TZID:"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 128)
}
