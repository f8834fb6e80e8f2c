//! INBOX polling, on the thread `started` gives the plugin, when `poll` is set.
//!
//! ```text
//!  plugin                                   IMAP server
//!    | EXAMINE INBOX                          |
//!    |<-- UIDVALIDITY v, UIDNEXT n -----------|
//!    | (v differs from poll_seen, or none: start after n-1, hand over nothing old)
//!    | UID SEARCH UID <last+1>:*              |
//!    |<-- new UIDs ---------------------------|
//!    | UID FETCH u (BODY.PEEK[]<0.64K>)       |   for each new UID, oldest first:
//!    | decide (allow-list, Authentication-Results)
//!    | event/publish message.inbound (if allowed); write poll_seen "v u"
//!    | ... sleep interval_secs ...            |
//! ```
//!
//! Its own IMAP session (the tools keep theirs). `poll_seen` is written after each
//! mail is handled (see `seen`), so a restart neither repeats nor loses mail. A
//! failure waits before the next try (the interval, doubling up to ten minutes) and
//! is logged by kind. The loop ends when the core goes away or at `shutdown`.
//!
//! Must never: publish for a sender not on the allow-list (or without the
//! configured authentication); log an address, a subject or a body.

use std::time::{Duration, Instant};

use carapace_plugin_sdk::{CoreError, CoreLink, Level};
use serde_json::json;

use crate::config::Poll;
use crate::connection::live::{Connection, Live};
use crate::error::{from_imap, EmailError};
use crate::id::MessageId;
use crate::seen::{Seen, SeenFile};
use crate::state::Shared;
use crate::summary::{addresses, header_texts};
use crate::text::{body_chars, cap, one_line};
use crate::trust::{decide, Verdict};

/// Most bytes of a polled mail fetched.
const FETCH: usize = 64 << 10;
/// Most characters of a mail put in the prompt.
const PROMPT_CHARS: usize = 8000;
/// Longest wait after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Polls until the core goes away or the plugin stops.
pub fn run(shared: &Shared, link: &CoreLink) {
    let Some(poll) = shared.config.poll.clone() else {
        return;
    };
    let file = SeenFile::in_dir(&shared.data_dir);
    let mut seen = match file.load() {
        Ok(seen) => seen,
        Err(error) => {
            link.log(Level::Error, format!("email.poll_stopped error={error}"));
            return;
        }
    };
    let connection = Connection::new(shared.config.clone(), shared.credentials.clone());
    let interval = Duration::from_secs(poll.interval_secs);
    let mut failures: u32 = 0;
    while !link.is_closed() && !shared.stopping() {
        let wait = match connection.with(|live| check(live, &poll, &file, &mut seen, link)) {
            Ok(true) => {
                failures = 0;
                interval
            }
            Ok(false) => return,
            Err(error) => {
                failures = failures.saturating_add(1);
                if failures <= 3 || failures.is_multiple_of(16) {
                    link.log(
                        Level::Warn,
                        format!(
                            "email.poll_failed kind={} failures={failures}",
                            error.kind()
                        ),
                    );
                }
                interval
                    .saturating_mul(2u32.saturating_pow(failures.min(10)))
                    .min(MAX_BACKOFF.max(interval))
            }
        };
        pause(shared, link, wait);
    }
    connection.close();
}

/// Sleeps `wait`, or less if the plugin stops meanwhile.
fn pause(shared: &Shared, link: &CoreLink, wait: Duration) {
    let until = Instant::now() + wait;
    while !link.is_closed() && !shared.stopping() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// One look at INBOX; `Ok(false)` when the core went away.
fn check(
    live: &mut Live,
    poll: &Poll,
    file: &SeenFile,
    seen: &mut Option<Seen>,
    link: &CoreLink,
) -> Result<bool, EmailError> {
    let mailbox = live.command().examine("INBOX").map_err(from_imap)?;
    let validity = mailbox.uid_validity.unwrap_or(0);
    let last = match seen {
        Some(s) if s.uidvalidity == validity => s.uid,
        _ => {
            // First poll, or INBOX was recreated: start after what is there now.
            let start = Seen {
                uidvalidity: validity,
                uid: mailbox.uid_next.unwrap_or(1).saturating_sub(1),
            };
            save(file, start, link);
            *seen = Some(start);
            return Ok(true);
        }
    };
    let mut uids: Vec<u32> = live
        .command()
        .uid_search(format!("UID {}:*", last.saturating_add(1)))
        .map_err(from_imap)?
        .into_iter()
        .filter(|uid| *uid > last)
        .collect();
    uids.sort_unstable();
    for uid in uids {
        if link.is_closed() {
            return Ok(false);
        }
        let fetched = live
            .command()
            .uid_fetch(uid.to_string(), format!("(UID BODY.PEEK[]<0.{FETCH}>)"))
            .map_err(from_imap)?;
        let raw = fetched
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body())
            .unwrap_or_default();
        let id = MessageId {
            folder: "INBOX".into(),
            uidvalidity: validity,
            uid,
        };
        if !hand_over(poll, &id, raw, link)? {
            return Ok(false);
        }
        let now = Seen {
            uidvalidity: validity,
            uid,
        };
        save(file, now, link);
        *seen = Some(now);
    }
    Ok(true)
}

fn save(file: &SeenFile, seen: Seen, link: &CoreLink) {
    if let Err(error) = file.save(seen) {
        link.log(
            Level::Error,
            format!("email.poll_seen_not_saved error={}", error.kind()),
        );
    }
}

/// Publishes `message.inbound` for an allowed mail; `Ok(false)` when the core went
/// away (the mail is then looked at again next time).
fn hand_over(poll: &Poll, id: &MessageId, raw: &[u8], link: &CoreLink) -> Result<bool, EmailError> {
    let Some(message) = crate::parsed::Parsed::parse(raw) else {
        link.log(Level::Info, "email.poll_skipped reason=unparsable");
        return Ok(true);
    };
    let from: Vec<String> = message
        .from()
        .map(|list| {
            list.iter()
                .filter_map(|a| a.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let results = header_texts(&message, "Authentication-Results");
    let (sender, trust) = match decide(poll, &from, &results) {
        Verdict::Accept { sender, trust } => (sender, trust),
        Verdict::Skip(reason) => {
            link.log(Level::Info, format!("email.poll_skipped reason={reason}"));
            return Ok(true);
        }
    };
    let subject = message
        .subject()
        .map(|s| one_line(s, 300))
        .unwrap_or_default();
    let (body, _) = crate::body::text(&message, PROMPT_CHARS);
    let (body, _) = cap(&body_chars(&body), PROMPT_CHARS);
    let text = format!(
        "Email from {} (id {id}).\nSubject: {subject}\n\n{body}",
        addresses(message.from()).join(", ")
    );
    let payload = json!({
        "text": text,
        "sender": sender,
        "trust": trust,
        "id": id.to_string(),
        "subject": subject,
        "message_id": message.message_id().map(|m| format!("<{m}>")),
    });
    match link.publish("message.inbound", &poll.group, payload) {
        Ok(()) => {
            link.log(Level::Info, format!("email.inbound trust={trust}"));
            Ok(true)
        }
        Err(CoreError::Disconnected) => Ok(false),
        Err(error) => {
            link.log(Level::Error, format!("email.publish_failed error={error}"));
            Ok(true)
        }
    }
}
