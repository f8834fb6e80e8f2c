//! Message ids the agent holds: `<folder>/<UIDVALIDITY>/<UID>`. A UID means one
//! message only while the folder's UIDVALIDITY is the same (RFC 3501 §2.3.1.1), so
//! an id whose UIDVALIDITY no longer matches is refused as stale rather than read
//! as whatever message now has that UID.

use carapace_plugin_sdk::ToolError;

/// A parsed id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageId {
    /// The folder, as the server names it.
    pub folder: String,
    /// The folder's UIDVALIDITY when the id was made.
    pub uidvalidity: u32,
    /// The message's UID.
    pub uid: u32,
}

impl MessageId {
    /// Reads an id; a malformed one is `VALIDATION_FAILED` on `id`.
    pub fn parse(text: &str) -> Result<MessageId, ToolError> {
        let bad =
            || ToolError::invalid("id", "not an id from email_search (folder/uidvalidity/uid)");
        let mut parts = text.rsplitn(3, '/');
        let uid = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(bad)?;
        let uidvalidity = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(bad)?;
        let folder = parts.next().ok_or_else(bad)?;
        check_folder(folder).map_err(|_| bad())?;
        if uid == 0 {
            return Err(bad());
        }
        Ok(MessageId {
            folder: folder.to_owned(),
            uidvalidity,
            uid,
        })
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.folder, self.uidvalidity, self.uid)
    }
}

/// A folder name the plugin will send: 1..=255 bytes, no control characters
/// (the IMAP crate quotes it; a line break could end the command).
pub fn check_folder(folder: &str) -> Result<(), &'static str> {
    if folder.is_empty() || folder.len() > 255 {
        return Err("a folder name is 1 to 255 bytes");
    }
    if folder.chars().any(char::is_control) {
        return Err("a folder name has no control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_even_with_slashes_in_the_folder() {
        let id = MessageId::parse("Archive/2024/77/12").expect("test value");
        assert_eq!(id.folder, "Archive/2024");
        assert_eq!((id.uidvalidity, id.uid), (77, 12));
        assert_eq!(id.to_string(), "Archive/2024/77/12");
    }

    #[test]
    fn malformed_ids_are_refused_on_the_id_field() {
        for bad in [
            "",
            "INBOX",
            "INBOX/1",
            "INBOX/x/1",
            "/1/2",
            "INBOX/1/0",
            "IN\r\nBOX/1/2",
            "INBOX/1/-2",
        ] {
            let error = MessageId::parse(bad).expect_err(bad);
            assert_eq!(error.field.as_deref(), Some("id"), "{bad:?}");
        }
    }
}
