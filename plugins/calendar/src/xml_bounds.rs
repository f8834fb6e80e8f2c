//! A linear pre-scan of an XML answer, before roxmltree builds its tree: the number
//! of elements, their nesting, attributes per element, and the namespace entries the
//! tree would copy.
//!
//! Why: roxmltree bounds the number of nodes (`ParsingOptions::nodes_limit`, used
//! too) but only while it builds them, after reserving room for one per `<` of the
//! text, and it checks each attribute against the element's earlier ones (a single
//! element with 200,000 attributes costs 2*10^10 comparisons) and gives every
//! element that declares a namespace its own copy of all the namespaces in scope
//! (10,000 nested declarations are 5*10^7 entries). Neither can be configured.
//! This scan only counts; the parsing is roxmltree's.
//!
//! Must never: read anything out of the answer (it only says yes or no).

/// Most elements (roxmltree's node limit, counted before it reserves room for them).
pub const MAX_ELEMENTS: usize = crate::dav::MAX_NODES as usize;
/// Deepest element nesting (a calendar-query answer is seven deep).
pub const MAX_DEPTH: usize = 32;
/// Most attributes (namespace declarations included) on one element.
pub const MAX_ATTRIBUTES: usize = 32;
/// Most namespace entries the tree may hold: per element declaring any, those in
/// scope plus its own.
pub const MAX_NAMESPACE_ENTRIES: usize = 2_000_000;

/// Which bound an answer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TooComplex {
    /// More than [`MAX_ELEMENTS`] elements.
    #[error("more than {MAX_ELEMENTS} XML elements")]
    Elements,
    /// Elements nested deeper than [`MAX_DEPTH`].
    #[error("XML nested deeper than {MAX_DEPTH}")]
    Depth,
    /// An element with more than [`MAX_ATTRIBUTES`] attributes.
    #[error("an XML element with more than {MAX_ATTRIBUTES} attributes")]
    Attributes,
    /// More than [`MAX_NAMESPACE_ENTRIES`] namespace entries.
    #[error("too many XML namespace declarations")]
    Namespaces,
}

/// Scans `text`; `Ok` when roxmltree may parse it. Malformed XML passes (roxmltree
/// refuses it).
pub fn check(text: &str) -> Result<(), TooComplex> {
    let bytes = text.as_bytes();
    // Namespaces in scope at each open element.
    let mut in_scope: Vec<usize> = Vec::with_capacity(MAX_DEPTH);
    let mut entries = 0usize;
    let mut elements = 0usize;
    let mut at = 0usize;
    while let Some(offset) = bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(|b| *b == b'<'))
    {
        at += offset;
        let rest = &text[at..];
        if let Some(skip) = [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")]
            .iter()
            .find(|(open, _)| rest.starts_with(open))
            .map(|(open, close)| {
                open.len()
                    + rest[open.len()..]
                        .find(close)
                        .map_or(rest.len(), |e| e + close.len())
            })
        {
            at += skip;
            continue;
        }
        let tag = tag(&bytes[at..]);
        at += tag.length;
        match tag.kind {
            Kind::Close => {
                in_scope.pop();
            }
            Kind::Other | Kind::Empty | Kind::Open => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(TooComplex::Elements);
                }
                if tag.attributes > MAX_ATTRIBUTES {
                    return Err(TooComplex::Attributes);
                }
                let inherited = in_scope.last().copied().unwrap_or(0);
                if tag.namespaces > 0 {
                    entries = entries.saturating_add(inherited + tag.namespaces);
                    if entries > MAX_NAMESPACE_ENTRIES {
                        return Err(TooComplex::Namespaces);
                    }
                }
                if tag.kind == Kind::Open {
                    if in_scope.len() >= MAX_DEPTH {
                        return Err(TooComplex::Depth);
                    }
                    in_scope.push(inherited + tag.namespaces);
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<a ...>`.
    Open,
    /// `<a .../>`.
    Empty,
    /// `</a>`.
    Close,
    /// `<!DOCTYPE ...>` and the like.
    Other,
}

struct Tag {
    kind: Kind,
    length: usize,
    attributes: usize,
    namespaces: usize,
}

/// The tag at the start of `bytes` (which starts with `<`), to its `>` outside quotes.
fn tag(bytes: &[u8]) -> Tag {
    let kind = match bytes.get(1) {
        Some(b'/') => Kind::Close,
        Some(b'!') => Kind::Other,
        _ => Kind::Open,
    };
    let (mut attributes, mut namespaces) = (0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut index = 1usize;
    while let Some(&byte) = bytes.get(index) {
        match (quote, byte) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'=') => {
                attributes += 1;
                let name = name_before(bytes.get(..index).unwrap_or_default());
                if name == b"xmlns" || name.starts_with(b"xmlns:") {
                    namespaces += 1;
                }
            }
            (None, b'>') => {
                let empty = index > 1 && bytes.get(index - 1) == Some(&b'/');
                return Tag {
                    kind: if kind == Kind::Open && empty {
                        Kind::Empty
                    } else {
                        kind
                    },
                    length: index + 1,
                    attributes,
                    namespaces,
                };
            }
            (None, _) => {}
        }
        index += 1;
    }
    Tag {
        kind: Kind::Other,
        length: bytes.len(),
        attributes,
        namespaces,
    }
}

/// The attribute name just before an `=` (spaces allowed between them).
fn name_before(bytes: &[u8]) -> &[u8] {
    let end = bytes.trim_ascii_end();
    let start = end
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<'))
        .map_or(0, |p| p + 1);
    end.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordinary_answer_passes() {
        let answer = r#"<?xml version="1.0"?>
<!-- a comment with <tags> and a="b" -->
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop>
  <d:getetag>"1"</d:getetag>
  <c:calendar-data xmlns:c="urn:ietf:params:xml:ns:caldav"><![CDATA[BEGIN:VCALENDAR
X-A;B="<x>":<<<a=b>
END:VCALENDAR]]></c:calendar-data>
  <d:resourcetype><d:collection/></d:resourcetype>
 </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response title="a > b = c"><d:href>/x</d:href></d:response>
</d:multistatus>"#;
        assert_eq!(check(answer), Ok(()));
    }

    #[test]
    fn deep_nesting_many_attributes_or_namespaces_are_refused() {
        let within = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(check(&within), Ok(()));
        assert_eq!(check(&"<a>".repeat(10_000)), Err(TooComplex::Depth));
        let closed_again = "<a></a>".repeat(100_000);
        assert_eq!(check(&closed_again), Ok(()));
        let many = "<a/>".repeat(MAX_ELEMENTS + 1);
        assert_eq!(check(&many), Err(TooComplex::Elements));
        let attributes = |n: usize| {
            format!(
                "<a {}/>",
                (0..n)
                    .map(|i| format!("a{i}=\"\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        assert_eq!(check(&attributes(MAX_ATTRIBUTES)), Ok(()));
        assert_eq!(check(&attributes(200_000)), Err(TooComplex::Attributes));
        let declaring = format!(
            "<r>{}</r>",
            format!(
                "<a {}/>",
                (0..30)
                    .map(|i| format!("xmlns:p{i}=\"u\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
            .repeat(100_000)
        );
        assert_eq!(check(&declaring), Err(TooComplex::Namespaces));
    }

    #[test]
    fn unterminated_input_ends_the_scan_and_spaced_declarations_count() {
        for text in [
            "<a b=\"",
            "<!-- never closed",
            "<![CDATA[ x",
            "<",
            "text only",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
        assert_eq!(name_before(b"<a  xmlns:p1 "), b"xmlns:p1");
        assert_eq!(name_before(b"<a x=\"1\"xmlns"), b"xmlns");
    }
}
