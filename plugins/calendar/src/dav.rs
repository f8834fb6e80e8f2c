//! WebDAV/CalDAV XML (RFC 4918, RFC 4791, RFC 5397): the request bodies the plugin
//! sends and the `multistatus` answers it reads.
//!
//! Request bodies are fixed texts; the only value that comes from a call (a UID) goes
//! through [`escape`]. Answers are scanned first (`xml_bounds`: nesting, attributes,
//! namespaces), then parsed with roxmltree bounded in nodes ([`MAX_NODES`]), and only
//! properties under a 2xx `propstat` are read.

use chrono::{DateTime, Utc};

use crate::error::CalError;

/// The DAV: namespace.
pub const DAV: &str = "DAV:";
/// The CalDAV namespace.
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// Apple's CalendarServer namespace (`getctag`).
pub const CS: &str = "http://calendarserver.org/ns/";

/// Most XML nodes one answer may have: a response of a calendar-query answer is
/// about 20 (elements, texts, the whitespace between them), so this holds
/// [`crate::service::MAX_OBJECTS`] objects, and a tree of it about 30 MB.
pub const MAX_NODES: u32 = 25 * crate::service::MAX_OBJECTS as u32;

/// PROPFIND body for discovery: the principal and the home set (RFC 5397, 4791 §6.2.1).
pub const PROPFIND_PRINCIPAL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:current-user-principal/><c:calendar-home-set/><d:resourcetype/></d:prop>
</d:propfind>"#;

/// PROPFIND body listing the calendars in a home (Depth: 1).
pub const PROPFIND_CALENDARS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/">
  <d:prop><d:resourcetype/><d:displayname/><c:supported-calendar-component-set/><c:calendar-description/><c:calendar-timezone/><cs:getctag/><d:sync-token/></d:prop>
</d:propfind>"#;

/// PROPFIND body for one calendar's `getctag` alone (Depth: 0): the check before a
/// kept window is reused. `sync-token` is not asked with it: radicale computes it
/// at about twice the cost of the ctag.
pub const PROPFIND_CTAG: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/></d:prop></d:propfind>"#;

/// `REPORT calendar-query` for VEVENTs overlapping `[from, to)` (RFC 4791 §7.8), with
/// the server's own expansion (§9.6.5) when `expand`.
pub fn calendar_query(from: DateTime<Utc>, to: DateTime<Utc>, expand: bool) -> String {
    let (start, end) = (ical_utc(from), ical_utc(to));
    let data = if expand {
        format!(r#"<c:calendar-data><c:expand start="{start}" end="{end}"/></c:calendar-data>"#)
    } else {
        "<c:calendar-data/>".to_owned()
    };
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/>{data}</d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="{start}" end="{end}"/></c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"#
    )
}

/// `REPORT calendar-query` for the VEVENT whose UID is `uid` (RFC 4791 §9.7.5).
pub fn uid_query(uid: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/><c:calendar-data/></d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match collation="i;octet">{}</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"#,
        escape(uid)
    )
}

/// `20261203T100000Z`.
pub fn ical_utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// XML character data and attribute values: `&`, `<`, `>`, `"`, `'` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// One `response` of a multistatus, with the properties of its 2xx propstats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// The `href`, as sent.
    pub href: String,
    /// The response's own status, if it has one (e.g. 404 for a member).
    pub status: Option<u16>,
    /// `current-user-principal/href`.
    pub principal: Option<String>,
    /// `calendar-home-set/href`s.
    pub homes: Vec<String>,
    /// `resourcetype` children, as `namespace name`.
    pub types: Vec<String>,
    /// `displayname`.
    pub display_name: Option<String>,
    /// `calendar-description`.
    pub description: Option<String>,
    /// `supported-calendar-component-set/comp/@name`s.
    pub components: Vec<String>,
    /// `calendar-timezone` (a VCALENDAR with one VTIMEZONE).
    pub timezone: Option<String>,
    /// `getctag`.
    pub ctag: Option<String>,
    /// `sync-token`.
    pub sync_token: Option<String>,
    /// `getetag`.
    pub etag: Option<String>,
    /// `calendar-data`.
    pub calendar_data: Option<String>,
}

impl Resource {
    /// Whether `resourcetype` has CalDAV's `calendar`.
    pub fn is_calendar(&self) -> bool {
        self.types
            .iter()
            .any(|t| t == &format!("{CALDAV} calendar"))
    }
}

/// Parses a `207 Multi-Status` body.
pub fn parse_multistatus(body: &[u8]) -> Result<Vec<Resource>, CalError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| CalError::Malformed("the XML answer is not UTF-8".into()))?;
    crate::xml_bounds::check(text).map_err(|e| CalError::Malformed(e.to_string()))?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| CalError::Malformed(format!("XML: {e}")))?;
    let root = doc.root_element();
    if !is(root, DAV, "multistatus") {
        return Err(CalError::Malformed(
            "the XML answer is not a DAV multistatus".into(),
        ));
    }
    let mut resources = Vec::new();
    for response in root.children().filter(|n| is(*n, DAV, "response")) {
        let mut resource = Resource {
            href: child_text(response, DAV, "href").unwrap_or_default(),
            status: child_text(response, DAV, "status").and_then(|s| status_code(&s)),
            ..Resource::default()
        };
        for propstat in response.children().filter(|n| is(*n, DAV, "propstat")) {
            let ok = child_text(propstat, DAV, "status")
                .and_then(|s| status_code(&s))
                .is_some_and(|code| (200..300).contains(&code));
            if !ok {
                continue;
            }
            for prop in propstat.children().filter(|n| is(*n, DAV, "prop")) {
                read_props(prop, &mut resource);
            }
        }
        resources.push(resource);
    }
    Ok(resources)
}

fn read_props(prop: roxmltree::Node, r: &mut Resource) {
    for p in prop.children().filter(roxmltree::Node::is_element) {
        let ns = p.tag_name().namespace().unwrap_or("");
        match (ns, p.tag_name().name()) {
            (DAV, "current-user-principal") => r.principal = child_text(p, DAV, "href"),
            (CALDAV, "calendar-home-set") => r.homes = children_text(p, DAV, "href"),
            (DAV, "resourcetype") => {
                r.types = p
                    .children()
                    .filter(roxmltree::Node::is_element)
                    .map(|t| {
                        format!(
                            "{} {}",
                            t.tag_name().namespace().unwrap_or(""),
                            t.tag_name().name()
                        )
                    })
                    .collect();
            }
            (DAV, "displayname") => r.display_name = text(p),
            (CALDAV, "calendar-description") => r.description = text(p),
            (CALDAV, "supported-calendar-component-set") => {
                r.components = p
                    .children()
                    .filter(|c| is(*c, CALDAV, "comp"))
                    .filter_map(|c| c.attribute("name").map(str::to_owned))
                    .collect();
            }
            (CALDAV, "calendar-timezone") => r.timezone = text(p),
            (CS, "getctag") => r.ctag = text(p),
            (DAV, "sync-token") => r.sync_token = text(p),
            (DAV, "getetag") => r.etag = text(p),
            (CALDAV, "calendar-data") => r.calendar_data = text(p),
            _ => {}
        }
    }
}

fn is(node: roxmltree::Node, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

/// All text below `node`, trimmed; `None` when empty.
fn text(node: roxmltree::Node) -> Option<String> {
    let all: String = node
        .descendants()
        .filter(roxmltree::Node::is_text)
        .filter_map(|t| t.text())
        .collect();
    let trimmed = all.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn child_text(node: roxmltree::Node, ns: &str, name: &str) -> Option<String> {
    node.children().find(|c| is(*c, ns, name)).and_then(text)
}

fn children_text(node: roxmltree::Node, ns: &str, name: &str) -> Vec<String> {
    node.children()
        .filter(|c| is(*c, ns, name))
        .filter_map(text)
        .collect()
}

/// `HTTP/1.1 200 OK` -> 200.
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistatus_keeps_only_successful_properties() {
        let body = br#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <response><href>/cal/home/</href>
  <propstat><prop><resourcetype><collection/><C:calendar/></resourcetype><displayname>Home &amp; Work</displayname>
   <C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set></prop>
   <status>HTTP/1.1 200 OK</status></propstat>
  <propstat><prop><getetag>"leaked"</getetag></prop><status>HTTP/1.1 404 Not Found</status></propstat>
 </response>
</multistatus>"#;
        let resources = parse_multistatus(body).expect("parses");
        assert_eq!(resources.len(), 1);
        let r = &resources[0];
        assert!(r.is_calendar());
        assert_eq!(r.display_name.as_deref(), Some("Home & Work"));
        assert_eq!(r.components, ["VEVENT", "VTODO"]);
        assert_eq!(r.etag, None);
    }

    #[test]
    fn hostile_xml_is_an_error_not_a_panic() {
        for body in [
            &b"<multistatus xmlns='DAV:'><response>"[..],
            b"<!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]><multistatus xmlns='DAV:'>&b;</multistatus>",
            b"\xff\xfe<x/>",
            b"<html>not dav</html>",
            b"",
        ] {
            assert!(matches!(parse_multistatus(body), Err(CalError::Malformed(_))));
        }
    }

    #[test]
    fn uid_query_escapes_the_uid() {
        let body = uid_query("a</c:text-match><x>&]]>");
        assert!(body.contains("a&lt;/c:text-match&gt;&lt;x&gt;&amp;]]&gt;"));
        assert!(roxmltree::Document::parse(&body).is_ok());
    }
}
