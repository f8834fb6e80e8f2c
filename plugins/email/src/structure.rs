//! Attachments from the server's BODYSTRUCTURE: name, type and size of each part
//! that is not the text the plugin shows, without fetching any of them; or, for a
//! message nested too deep for that, from the part of it that was fetched.

use imap_proto::types::{BodyContentCommon, BodyStructure};
use serde_json::{json, Value};

use crate::text::one_line;

/// Most attachments listed.
pub const MAX_LISTED: usize = 100;

/// The attachments of `structure`, as `{name, type, size}`.
pub fn attachments(structure: &BodyStructure<'_>) -> Vec<Value> {
    let mut found = Vec::new();
    walk(structure, true, &mut found);
    found
}

/// The attachments the MIME parser found in a fetched message, as `{name, type,
/// size}` (size decoded; only what the fetched bytes hold).
pub fn attachments_of(message: &mail_parser::Message<'_>) -> Vec<Value> {
    use mail_parser::MimeHeaders;
    message
        .attachments()
        .take(MAX_LISTED)
        .map(|part| {
            let ty = part
                .content_type()
                .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or("octet-stream")))
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            json!({
                "name": part.attachment_name().map(|n| one_line(n, 255)),
                "type": one_line(&ty.to_ascii_lowercase(), 100),
                "size": part.len(),
            })
        })
        .collect()
}

fn walk(structure: &BodyStructure<'_>, top: bool, found: &mut Vec<Value>) {
    if found.len() >= MAX_LISTED {
        return;
    }
    match structure {
        BodyStructure::Multipart { bodies, .. } => {
            for body in bodies {
                walk(body, false, found);
            }
        }
        BodyStructure::Text { common, other, .. } => {
            let inline_text =
                !is_attachment(common) && matches!(subtype(common).as_str(), "plain" | "html");
            if !inline_text && !top {
                found.push(entry(common, other.octets));
            }
        }
        BodyStructure::Basic { common, other, .. }
        | BodyStructure::Message { common, other, .. } => {
            if !top {
                found.push(entry(common, other.octets));
            }
        }
    }
}

fn subtype(common: &BodyContentCommon<'_>) -> String {
    common.ty.subtype.to_ascii_lowercase()
}

fn is_attachment(common: &BodyContentCommon<'_>) -> bool {
    common
        .disposition
        .as_ref()
        .is_some_and(|d| d.ty.eq_ignore_ascii_case("attachment"))
}

fn entry(common: &BodyContentCommon<'_>, octets: u32) -> Value {
    let param = |params: &Option<Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)>>,
                 key: &str| {
        params
            .as_ref()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.to_string())
    };
    let name = common
        .disposition
        .as_ref()
        .and_then(|d| param(&d.params, "filename"))
        .or_else(|| param(&common.ty.params, "name"))
        .map(|raw| one_line(&decode_words(&raw), 255));
    json!({
        "name": name,
        "type": one_line(&format!("{}/{}", common.ty.ty, common.ty.subtype).to_ascii_lowercase(), 100),
        "size": octets,
    })
}

/// Decodes RFC 2047 encoded words in a parameter (what most mailers send for
/// non-ASCII file names), through the MIME parser.
fn decode_words(raw: &str) -> String {
    if !raw.contains("=?") {
        return raw.to_owned();
    }
    let header = format!("Subject: {raw}\r\n\r\n");
    mail_parser::MessageParser::default()
        .parse_headers(header.as_bytes())
        .and_then(|m| m.subject().map(str::to_owned))
        .unwrap_or_else(|| raw.to_owned())
}
