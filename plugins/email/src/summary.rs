//! What a search hit shows: id, sender, recipients, subject, date, unread, size,
//! from the message's header as the server keeps it (decoded, one line each).

use imap::types::{Fetch, Flag};
use mail_parser::{Address, HeaderValue, Message, MessageParser};
use serde_json::{json, Value};

use crate::id::MessageId;
use crate::text::one_line;

/// Longest header value shown.
pub const MAX_HEADER: usize = 500;

/// One hit.
pub fn summarize(id: &MessageId, fetch: &Fetch<'_>) -> Value {
    let unread = !fetch.flags().contains(&Flag::Seen);
    let parsed = fetch
        .header()
        .and_then(|bytes| MessageParser::default().parse_headers(bytes));
    let mut row = json!({
        "id": id.to_string(),
        "unread": unread,
        "size": fetch.size,
    });
    if let Some(message) = parsed {
        row["from"] = json!(addresses(message.from()));
        row["to"] = json!(addresses(message.to()));
        row["subject"] = json!(message.subject().map(|s| one_line(s, MAX_HEADER)));
        row["date"] = json!(message.date().map(|d| d.to_rfc3339()));
    }
    row
}

/// `Name <addr>` strings of an address header.
pub fn addresses(header: Option<&Address<'_>>) -> Vec<String> {
    let Some(header) = header else {
        return Vec::new();
    };
    header
        .iter()
        .take(50)
        .map(|a| {
            let address = a.address().unwrap_or("");
            match a.name() {
                Some(name) if !name.is_empty() => {
                    one_line(&format!("{name} <{address}>"), MAX_HEADER)
                }
                _ => one_line(address, MAX_HEADER),
            }
        })
        .collect()
}

/// The bare address of the first From, lower-cased.
pub fn from_address(message: &Message<'_>) -> Option<String> {
    message
        .from()?
        .first()?
        .address()
        .map(str::to_ascii_lowercase)
}

/// Every value of header `name` as text.
pub fn header_texts(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .header_values(name)
        .filter_map(|v| match v {
            HeaderValue::Text(t) => Some(t.to_string()),
            HeaderValue::TextList(list) => Some(list.join(" ")),
            _ => None,
        })
        .collect()
}
