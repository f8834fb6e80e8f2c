//! `email_list_folders {}` and `email_move {id, folder}`.

use serde_json::{json, Value};

use crate::connection::live::Live;
use crate::error::{from_imap, EmailError};
use crate::id::MessageId;

/// Every folder the server lists, with its attributes (e.g. `\Sent`, `\Trash`).
pub fn list(live: &mut Live) -> Result<Value, EmailError> {
    let names = live.command().list(None, Some("*")).map_err(from_imap)?;
    let folders: Vec<Value> = names
        .iter()
        .take(1000)
        .map(|name| {
            json!({
                "name": crate::utf7::decode(name.name()).unwrap_or_else(|| name.name().to_owned()),
                "attributes": name.attributes().iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"folders": folders}))
}

/// Moves `id` to `folder` (MOVE, else COPY + \Deleted + UID EXPUNGE); answers the
/// folder and its UIDVALIDITY. Run it once only (`Connection::once`): a COPY whose
/// answer was lost would otherwise be copied twice; a cut during the move itself
/// is [`EmailError::Unfinished`].
pub fn move_to(live: &mut Live, id: &MessageId, folder: &str) -> Result<Value, EmailError> {
    crate::read::open_folder_of(live, id, true)?;
    // Does the message exist? (UID MOVE of a missing UID is a silent no-op.)
    let present = live
        .command()
        .uid_search(format!("UID {}", id.uid))
        .map_err(from_imap)?;
    if !present.contains(&id.uid) {
        return Err(EmailError::NotFound);
    }
    let target = match live
        .command()
        .status(crate::utf7::encode(folder), "(UIDVALIDITY)")
    {
        Ok(m) => m,
        Err(imap::Error::No(_)) => return Err(EmailError::NoFolder),
        Err(e) => return Err(from_imap(e)),
    };
    let capabilities = live.command().capabilities().map_err(from_imap)?;
    let how = if capabilities.has_str("MOVE") {
        How::Move
    } else if capabilities.has_str("UIDPLUS") {
        How::CopyAndExpunge
    } else {
        // A plain EXPUNGE would also remove every other message flagged \Deleted.
        return Err(EmailError::Unsupported(
            "the server offers neither MOVE nor UIDPLUS",
        ));
    };
    // From here on the server may act: a cut answer is not a failure to report
    // as "try again" (the caller runs this once, see `Connection::once`).
    mutate(live, id, folder, how)?;
    // No CLOSE: it would expunge every message flagged \Deleted in the folder
    // (the person's own "mark as deleted"), which nobody approved. The next
    // SELECT or EXAMINE leaves the folder without expunging.
    Ok(json!({
        "moved": id.to_string(),
        "folder": folder,
        "folder_uidvalidity": target.uid_validity,
    }))
}

/// How a message is moved.
enum How {
    /// UID MOVE (RFC 6851).
    Move,
    /// UID COPY, then \Deleted and UID EXPUNGE (RFC 4315) of that message alone.
    CopyAndExpunge,
}

/// Moves the message. A cut answer to the move, or anything failing once the
/// copy was made, is [`EmailError::Unfinished`]: done again, it would copy twice.
fn mutate(live: &mut Live, id: &MessageId, folder: &str, how: How) -> Result<(), EmailError> {
    let unsure = |error: EmailError| {
        if error.ends_session() {
            EmailError::Unfinished
        } else {
            error
        }
    };
    match how {
        How::Move => live
            .command()
            .uid_mv(id.uid.to_string(), crate::utf7::encode(folder))
            .map(drop)
            .map_err(|e| unsure(from_imap(e))),
        How::CopyAndExpunge => {
            // The imap crate sends COPY's mailbox as given (unlike MOVE's): quoted here.
            live.command()
                .uid_copy(id.uid.to_string(), quoted(&crate::utf7::encode(folder)))
                .map_err(|e| unsure(from_imap(e)))?;
            let uid = id.uid.to_string();
            live.command()
                .uid_store(&uid, "+FLAGS.SILENT (\\Deleted)")
                .map(drop)
                .and_then(|()| live.command().uid_expunge(&uid).map(drop))
                .map_err(|_| EmailError::Unfinished)
        }
    }
}

/// `name` as an IMAP quoted string (RFC 3501 4.3): `\` and `"` escaped.
/// Control characters never get here (`id::check_folder`).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod quoting_tests {
    use super::quoted;

    #[test]
    fn a_copy_target_is_one_quoted_string() {
        assert_eq!(quoted("Sent Items"), "\"Sent Items\"");
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
