//! A copy of each sent mail in the Sent folder: after SMTP took the mail, the very
//! bytes it took are APPENDed (flagged `\Seen`) to `sent_folder`, by default the
//! folder the server marks `\Sent` (RFC 6154), else one named `Sent`. Failing to
//! save never fails the send (the mail is gone already); the answer says so.
//!
//! Must never: store anything but the bytes that were sent; fail an `email_send`
//! whose mail left.

use std::time::{Duration, Instant};

use imap::types::Flag;
use imap_proto::NameAttribute;
use serde_json::{json, Value};

use crate::connection::live::Connection;
use crate::error::from_imap;

/// Where the copy goes, from the config's `sent_folder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentFolder {
    /// `sent_folder = ""`: no copy.
    Off,
    /// The folder marked `\Sent`, else `Sent` (no `sent_folder`).
    Found,
    /// This folder.
    Named(String),
}

impl SentFolder {
    /// From the config value.
    pub fn from_config(value: Option<&str>) -> SentFolder {
        match value {
            None => SentFolder::Found,
            Some("") => SentFolder::Off,
            Some(name) => SentFolder::Named(name.to_owned()),
        }
    }
}

/// Why no copy was kept, for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotSaved {
    Off,
    NoFolder,
    Refused,
    Unreachable,
    Unknown,
    NoTime,
}

impl NotSaved {
    fn says(self) -> &'static str {
        match self {
            NotSaved::Off => "sent_folder is off",
            NotSaved::NoFolder => {
                "the server has no Sent folder (no \\Sent folder and none named Sent; set sent_folder)"
            }
            NotSaved::Refused => "the IMAP server refused to store the copy",
            NotSaved::Unreachable => "the IMAP server could not be reached to store the copy",
            NotSaved::Unknown => {
                "the connection broke while the copy was being stored: it may or may not be in the Sent folder"
            }
            NotSaved::NoTime => "no time was left within the call's deadline to store the copy",
        }
    }
}

/// Least time worth starting a copy with: an APPEND cut by the deadline would
/// leave the copy's fate unknown.
const LEAST_TIME: Duration = Duration::from_secs(1);

/// Keeps `raw` (the mail as sent) in the Sent folder, finishing by `until` if
/// given; answers the fields for the tool's answer (`saved`, `saved_in` or
/// `not_saved`) and the error kind to log.
pub fn keep(
    imap: &Connection,
    setting: &SentFolder,
    raw: &[u8],
    until: Option<Instant>,
) -> (Value, Option<&'static str>) {
    if *setting == SentFolder::Off {
        return (not_saved(NotSaved::Off), None);
    }
    if until.is_some_and(|until| until < Instant::now() + LEAST_TIME) {
        return (not_saved(NotSaved::NoTime), Some("no_time"));
    }
    // A kept session the server closed meanwhile is replaced here, and the
    // folder found, where a repeat costs nothing; the APPEND below is sent once
    // only, since a copy whose OK was lost would otherwise be stored twice.
    let found = imap.with_by(until, |live| {
        live.command().noop().map_err(from_imap)?;
        Ok(match setting {
            SentFolder::Named(name) => Some(name.clone()),
            _ => {
                let names = live.command().list(None, Some("*")).map_err(from_imap)?;
                let listed: Vec<(String, bool)> = names
                    .iter()
                    .map(|n| {
                        let sent = n.attributes().contains(&NameAttribute::Sent);
                        (n.name().to_owned(), sent)
                    })
                    .collect();
                choose(&listed)
            }
        })
    });
    let folder = match found {
        Ok(Some(folder)) => folder,
        Ok(None) => return (not_saved(NotSaved::NoFolder), None),
        Err(error) => {
            let why = if error.ends_session() {
                NotSaved::Unreachable
            } else {
                NotSaved::Refused
            };
            return (not_saved(why), Some(error.kind()));
        }
    };
    let wire = match setting {
        SentFolder::Named(_) => crate::utf7::encode(&folder),
        _ => folder.clone(),
    };
    let stored = imap.once_by(until, |live| {
        live.command()
            .append(&escape(&wire), raw)
            .flag(Flag::Seen)
            .finish()
            .map_err(from_imap)
    });
    match stored {
        Ok(_) => {
            let name = match setting {
                SentFolder::Named(name) => name.clone(),
                _ => crate::utf7::decode(&folder).unwrap_or(folder),
            };
            (json!({"saved": true, "saved_in": name}), None)
        }
        Err(error) if error.ends_session() => (not_saved(NotSaved::Unknown), Some(error.kind())),
        Err(error) => (not_saved(NotSaved::Refused), Some(error.kind())),
    }
}

fn not_saved(why: NotSaved) -> Value {
    json!({"saved": false, "not_saved": why.says()})
}

/// The folder (as listed, on the wire) marked `\Sent`, else the one named `Sent`;
/// never a name the plugin would not send itself (`id::check_folder`).
pub fn choose(listed: &[(String, bool)]) -> Option<String> {
    let usable = || {
        listed
            .iter()
            .filter(|(name, _)| crate::id::check_folder(name).is_ok())
    };
    usable()
        .find(|(_, sent)| *sent)
        .or_else(|| usable().find(|(name, _)| name == "Sent"))
        .map(|(name, _)| name.clone())
}

/// The inside of an IMAP quoted string: the `imap` crate writes APPEND's mailbox
/// between quotes as given. Control characters never get here (`id::check_folder`
/// on the config, and LIST answers are parsed strings).
fn escape(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(names: &[(&str, bool)]) -> Vec<(String, bool)> {
        names.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
    }

    #[test]
    fn the_sent_attribute_wins_over_the_name() {
        assert_eq!(
            choose(&listed(&[
                ("INBOX", false),
                ("Sent", false),
                ("Gesendet", true)
            ])),
            Some("Gesendet".into())
        );
        assert_eq!(
            choose(&listed(&[("INBOX", false), ("Sent", false)])),
            Some("Sent".into())
        );
        assert_eq!(choose(&listed(&[("INBOX", false), ("sent", false)])), None);
        assert_eq!(
            choose(&listed(&[("Sent\r\nx", true), ("Sent", false)])),
            Some("Sent".into())
        );
    }

    #[test]
    fn the_setting_reads_empty_as_off() {
        assert_eq!(SentFolder::from_config(Some("")), SentFolder::Off);
        assert_eq!(SentFolder::from_config(None), SentFolder::Found);
        assert_eq!(
            SentFolder::from_config(Some("Sent Items")),
            SentFolder::Named("Sent Items".into())
        );
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
