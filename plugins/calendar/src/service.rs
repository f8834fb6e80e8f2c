//! One CalDAV account: its client, its calendars (found once, refreshed on
//! `calendar_list`), and the server operations the tools need.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::Config;
use crate::dav;
use crate::discovery::{self, Calendar};
use crate::error::CalError;
use crate::href::{self, Url};
use crate::http::{Credentials, Dav};
use crate::ics::{self, Event, Skipped};
use crate::window_cache::{Window, WindowCache};
use crate::zone;

use crate::budget::Budget;
pub use crate::budget::MAX_OBJECTS;

/// An event read from a calendar, with where it lives.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The calendar's name.
    pub calendar: String,
    /// The calendar's floating zone.
    pub floating: Tz,
    /// The object's URL.
    pub url: Url,
    /// The object's ETag.
    pub etag: Option<String>,
    /// The events in it (a series and its overrides).
    pub events: Vec<Event>,
}

/// One REPORT's answer, read.
struct Read {
    objects: Vec<Stored>,
    /// Bytes of the answer.
    bytes: usize,
    /// Objects of the call's budget it took.
    units: usize,
    /// No member of the answer failed.
    whole: bool,
    /// The URL that answered (after redirects).
    at: Url,
}

/// The account.
#[derive(Debug)]
pub struct Account {
    dav: Dav,
    /// The config it was made from.
    pub config: Config,
    /// The configured zone.
    pub zone: Tz,
    calendars: Mutex<Option<Vec<Calendar>>>,
    windows: WindowCache,
}

impl Account {
    /// An account for `config`, with `credentials`, trusting `ca_pem` if given.
    pub fn new(
        config: Config,
        credentials: Credentials,
        ca_pem: Option<&[u8]>,
    ) -> Result<Account, CalError> {
        config.check()?;
        let base = href::check_base_url(&config.url)?;
        let zone =
            zone::iana(&config.time_zone).ok_or_else(|| CalError::Config("time_zone".into()))?;
        let dav = Dav::new(base, credentials, config.timeout(), ca_pem)?;
        let windows = WindowCache::new(usize::from(config.kept_windows));
        Ok(Account {
            dav,
            config,
            zone,
            calendars: Mutex::new(None),
            windows,
        })
    }

    /// The HTTP client (tests send their own REPORTs with it).
    pub fn dav(&self) -> &Dav {
        &self.dav
    }

    /// Finds the calendars again.
    pub fn refresh(&self) -> Result<Vec<Calendar>, CalError> {
        let found = discovery::calendars(&self.dav)?;
        self.windows.clear();
        *self
            .calendars
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(found.clone());
        Ok(found)
    }

    /// The calendars, found on first use.
    pub fn calendars(&self) -> Result<Vec<Calendar>, CalError> {
        let cached = self
            .calendars
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match cached {
            Some(c) => Ok(c),
            None => self.refresh(),
        }
    }

    /// The calendars a call means: the one it names (display name or path), else all.
    pub fn select(&self, name: Option<&str>) -> Result<Vec<Calendar>, CalError> {
        let all = self.calendars()?;
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(all),
            Some(name) => {
                let found: Vec<Calendar> = all
                    .iter()
                    .filter(|c| {
                        c.name.eq_ignore_ascii_case(name)
                            || href::same_collection(&c.url.path, name)
                    })
                    .cloned()
                    .collect();
                if found.is_empty() {
                    let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).take(20).collect();
                    return Err(CalError::invalid(
                        "calendar",
                        format!("no calendar `{name}`; there are: {}", names.join(", ")),
                    ));
                }
                Ok(found)
            }
        }
    }

    /// The one calendar `name` (display name or path) names; a name two calendars
    /// share is refused (their paths, from `calendar_list`, tell them apart).
    pub fn exactly_one(&self, name: &str) -> Result<Calendar, CalError> {
        if name.trim().is_empty() {
            return Err(CalError::invalid(
                "calendar",
                "name the calendar (its name or href from calendar_list)",
            ));
        }
        let mut found = self.select(Some(name))?;
        if found.len() > 1 {
            return Err(CalError::invalid(
                "calendar",
                "several calendars have this name: give the href from calendar_list",
            ));
        }
        found
            .pop()
            .ok_or_else(|| CalError::invalid("calendar", "no such calendar"))
    }

    /// The calendar new events go to: the one named, else the config's, else the first.
    pub fn target(&self, name: Option<&str>) -> Result<Calendar, CalError> {
        let name = name.or(self.config.calendar.as_deref());
        self.select(name)?
            .into_iter()
            .next()
            .ok_or_else(|| CalError::Discovery("the account has no calendar for events".into()))
    }

    /// The zone floating times of `calendar` are read in.
    pub fn floating(&self, calendar: &Calendar) -> Tz {
        calendar
            .time_zone
            .as_deref()
            .and_then(zone::from_tzid)
            .unwrap_or(self.zone)
    }

    /// The objects of `calendar` with a VEVENT overlapping `[from, to)`, within
    /// what is left of the call's `budget`. A window asked before, of a calendar
    /// that keeps a ctag, is reused while the ctag is unchanged (`window_cache`).
    pub fn query(
        &self,
        calendar: &Calendar,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        skipped: &mut Vec<Skipped>,
        budget: &mut Budget,
    ) -> Result<Vec<Stored>, CalError> {
        let body = dav::calendar_query(from, to, false);
        let key = calendar.url.as_string();
        if calendar.ctag.is_none() || !self.windows.seen(&key, from, to) {
            return Ok(self.report(calendar, &body, skipped, budget)?.objects);
        }
        // Asked before the REPORT, so a kept answer is never newer than its ctag.
        let Some((ctag_at, ctag)) = self.ctag(calendar, budget)? else {
            self.windows.without_ctag(&key);
            return Ok(self.report(calendar, &body, skipped, budget)?.objects);
        };
        if let Some(kept) = self.windows.reuse(&key, &ctag, from, to) {
            // Charged as the read it stands for; a call with too little budget
            // left for it reads instead, and is cut as a read would be.
            if kept.units <= budget.objects_left() {
                budget.answer(kept.bytes)?;
                for _ in 0..kept.units {
                    budget.object();
                }
                skipped.extend(kept.skipped);
                // The name and zone are the calendar's now (calendar_list may
                // have found them changed); the objects are the server's.
                let floating = self.floating(calendar);
                return Ok(kept
                    .objects
                    .iter()
                    .map(|object| Stored {
                        calendar: calendar.name.clone(),
                        floating,
                        ..object.clone()
                    })
                    .collect());
            }
        }
        let mut read_skipped = Vec::new();
        let read = self.report(calendar, &body, &mut read_skipped, budget)?;
        skipped.extend(read_skipped.iter().cloned());
        if read.whole && !budget.cut && read.at == ctag_at {
            let objects = std::sync::Arc::new(read.objects);
            self.windows.keep(
                &key,
                &ctag,
                from,
                to,
                Window {
                    objects: std::sync::Arc::clone(&objects),
                    skipped: read_skipped,
                    bytes: read.bytes,
                    units: read.units,
                },
            );
            return Ok(objects.as_ref().clone());
        }
        Ok(read.objects)
    }

    /// Where the calendar answered and its `getctag` now; none when the server
    /// does not answer it plainly (one response with a ctag, for the collection
    /// asked): the call then reads without reuse, and is not failed for it.
    fn ctag(
        &self,
        calendar: &Calendar,
        budget: &mut Budget,
    ) -> Result<Option<(Url, String)>, CalError> {
        let Ok((at, reply)) = discovery::send_following(
            &self.dav,
            "PROPFIND",
            &calendar.url,
            "0",
            dav::PROPFIND_CTAG,
        ) else {
            return Ok(None);
        };
        budget.answer(reply.body.len())?;
        if reply.status != 207 {
            return Ok(None);
        }
        let Ok(found) = dav::parse_multistatus(&reply.body) else {
            return Ok(None);
        };
        let mut ctags = found.iter().filter(|r| r.ctag.is_some());
        let (Some(only), None) = (ctags.next(), ctags.next()) else {
            return Ok(None);
        };
        let same = at
            .join(&only.href)
            .is_some_and(|href| href::same_collection(&href.path, &at.path));
        Ok(same.then(|| only.ctag.clone().map(|c| (at, c))).flatten())
    }

    /// The objects of `calendar` holding the VEVENT `uid`.
    pub fn find_uid(&self, calendar: &Calendar, uid: &str) -> Result<Vec<Stored>, CalError> {
        let mut skipped = Vec::new();
        let found = self.report(
            calendar,
            &dav::uid_query(uid),
            &mut skipped,
            &mut Budget::per_call(),
        )?;
        Ok(found
            .objects
            .into_iter()
            .filter(|s| s.events.iter().any(|e| e.uid == uid))
            .collect())
    }

    fn report(
        &self,
        calendar: &Calendar,
        body: &str,
        skipped: &mut Vec<Skipped>,
        budget: &mut Budget,
    ) -> Result<Read, CalError> {
        let (at, reply) = discovery::send_following(&self.dav, "REPORT", &calendar.url, "1", body)?;
        budget.answer(reply.body.len())?;
        if reply.status != 207 {
            return Err(CalError::Status {
                status: reply.status,
                step: "REPORT calendar-query",
            });
        }
        let floating = self.floating(calendar);
        let mut read = Read {
            objects: Vec::new(),
            bytes: reply.body.len(),
            units: 0,
            whole: true,
            at: at.clone(),
        };
        for resource in dav::parse_multistatus(&reply.body)? {
            if resource.status.is_some_and(|s| !(200..300).contains(&s)) {
                read.whole = false;
            }
            let Some(data) = resource.calendar_data.as_deref() else {
                continue;
            };
            if !budget.object() {
                break;
            }
            read.units += 1;
            let Some(url) = at.join(&resource.href) else {
                skipped.push(Skipped {
                    uid: None,
                    reason: "an object whose href is not a URL".into(),
                });
                continue;
            };
            let (events, bad) = ics::parse_object(data);
            skipped.extend(bad);
            if !events.is_empty() {
                read.objects.push(Stored {
                    calendar: calendar.name.clone(),
                    floating,
                    url,
                    etag: resource.etag.clone(),
                    events,
                });
            }
        }
        Ok(read)
    }

    /// PUTs a new object at `calendar`/`name`.ics, refusing to replace one (If-None-Match: *).
    pub fn create(
        &self,
        calendar: &Calendar,
        name: &str,
        ics: &str,
    ) -> Result<(Url, Option<String>), CalError> {
        self.windows.clear();
        let base = if calendar.url.path.ends_with('/') {
            calendar.url.clone()
        } else {
            calendar
                .url
                .join(&format!("{}/", calendar.url.path))
                .unwrap_or_else(|| calendar.url.clone())
        };
        let url = base.join(&format!("{name}.ics")).ok_or_else(|| {
            CalError::Malformed("the calendar URL cannot hold a new event".into())
        })?;
        let reply = self.dav.send(
            "PUT",
            &url,
            &[
                ("content-type", "text/calendar; charset=utf-8"),
                ("if-none-match", "*"),
            ],
            ics.as_bytes(),
        )?;
        match reply.status {
            200 | 201 | 204 => Ok((url, reply.etag)),
            412 => Err(CalError::Conflict),
            status => Err(CalError::Status {
                status,
                step: "PUT",
            }),
        }
    }

    /// DELETEs `url`, only if it is still `etag` (If-Match) when one is known.
    pub fn delete(&self, url: &Url, etag: Option<&str>) -> Result<(), CalError> {
        self.windows.clear();
        let mut headers = Vec::new();
        if let Some(etag) = etag {
            headers.push(("if-match", etag));
        }
        let reply = self.dav.send("DELETE", url, &headers, b"")?;
        match reply.status {
            200 | 202 | 204 => Ok(()),
            412 => Err(CalError::Conflict),
            404 => Err(CalError::invalid("uid", "the event is already gone")),
            status => Err(CalError::Status {
                status,
                step: "DELETE",
            }),
        }
    }
}
