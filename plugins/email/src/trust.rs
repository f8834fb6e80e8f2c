//! Whose mail may start a session, and with what trust: the poller's allow-list.
//!
//! A From header is written by the sender and can name anyone. The allow-list
//! therefore trusts the receiving server: that it refuses or marks mail whose From
//! is forged. With `poll.authserv_id` set, a mail counts only if an
//! `Authentication-Results` header (RFC 8601) from that server says `dkim=pass`
//! with `header.d` the From's domain, `spf=pass` with `smtp.mailfrom` in it, or
//! `dmarc=pass` with `header.from` in it. This relies on the server removing
//! `Authentication-Results` headers bearing its own id from incoming mail (RFC 8601
//! §5), as Fastmail, Gmail and a dovecot behind rspamd or OpenDKIM do; without
//! `authserv_id`, a forged From of an allowed address starts a session (as that
//! contact, or as the owner). See docs/email.md.

use crate::address::Address;
use crate::config::Poll;

/// What the poller does with a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start a session with this trust (`owner` or `contact`) for this sender.
    Accept {
        /// The sender, lower-cased.
        sender: String,
        /// `owner` or `contact`.
        trust: &'static str,
    },
    /// Not for a session; the reason is logged (never the address or content).
    Skip(&'static str),
}

/// Decides for a mail whose From addresses are `from` and whose
/// `Authentication-Results` headers are `results`.
pub fn decide(poll: &Poll, from: &[String], results: &[String]) -> Verdict {
    let [sender] = from else {
        return Verdict::Skip(if from.is_empty() {
            "no_from"
        } else {
            "several_from"
        });
    };
    let Some(address) = Address::parse(sender) else {
        return Verdict::Skip("unusable_from");
    };
    let key = address.key();
    let listed = |list: &[String]| list.iter().any(|a| a.eq_ignore_ascii_case(&key));
    let trust = if listed(&poll.owners) {
        "owner"
    } else if listed(&poll.allow) {
        "contact"
    } else {
        return Verdict::Skip("not_allowed");
    };
    if let Some(authserv) = &poll.authserv_id {
        let domain = key.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        // Only the topmost result of our own server counts: one further down
        // came with the message (the receiving server adds its own on top).
        let ours = results
            .iter()
            .find(|r| server_of(&plain(r)).eq_ignore_ascii_case(authserv));
        if !ours.is_some_and(|r| authenticated(r, authserv, domain)) {
            return Verdict::Skip("not_authenticated");
        }
    }
    Verdict::Accept { sender: key, trust }
}

/// `value` without its comments (`(...)`, nested) and with every quoted
/// string emptied (`""`), so a `;` or a `dkim=pass` inside one (RFC 8601
/// allows both, e.g. in a quoted `smtp.mailfrom` local part the sender chose)
/// can never pass for a clause of the server's own.
fn plain(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push('"');
            }
            _ if quoted => {}
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// The authserv-id of a (plain) `Authentication-Results` value.
fn server_of(plain: &str) -> &str {
    plain
        .split(';')
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("")
}

/// Whether one `Authentication-Results` value from `authserv` vouches for `domain`.
pub fn authenticated(value: &str, authserv: &str, domain: &str) -> bool {
    let value = plain(value);
    if !server_of(&value).eq_ignore_ascii_case(authserv) {
        return false;
    }
    let mut clauses = value.split(';');
    clauses.next();
    clauses.any(|clause| {
        let clause = clause.trim().to_ascii_lowercase();
        let words: Vec<&str> = clause.split_whitespace().collect();
        let has = |key: &str, want: &dyn Fn(&str) -> bool| {
            words
                .iter()
                .filter_map(|w| w.strip_prefix(key))
                .any(|v| want(v.trim_matches(|c| c == '"' || c == '(' || c == ')')))
        };
        let same = |v: &str| v == domain;
        let mailbox_in = |v: &str| v.rsplit_once('@').map_or(v == domain, |(_, d)| d == domain);
        let first = words.first().copied().unwrap_or("");
        match first {
            "dkim=pass" => has("header.d=", &same) || has("header.i=", &mailbox_in),
            "spf=pass" => has("smtp.mailfrom=", &mailbox_in),
            "dmarc=pass" => has("header.from=", &same),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clause_inside_a_quoted_string_or_a_comment_vouches_for_nothing() {
        let forged = "mx.example.net; spf=pass (sender SPF authorized) \
                      smtp.mailfrom=\"a;dkim=pass header.d=example.com b\"@evil.example";
        assert!(!authenticated(forged, "mx.example.net", "example.com"));
        let in_comment = "mx.example.net; spf=pass smtp.mailfrom=x@evil.example \
                          (; dkim=pass header.d=example.com)";
        assert!(!authenticated(in_comment, "mx.example.net", "example.com"));
        let honest = "mx.example.net; dkim=pass (good) header.d=example.com; \
                      spf=pass smtp.mailfrom=\"john doe\"@example.com";
        assert!(authenticated(honest, "mx.example.net", "example.com"));
    }

    fn poll(authserv: Option<&str>) -> Poll {
        Poll {
            group: "main".into(),
            allow: vec!["Friend@Example.com".into()],
            owners: vec!["me@example.org".into()],
            interval_secs: 60,
            authserv_id: authserv.map(str::to_owned),
        }
    }

    #[test]
    fn allow_list_and_owners() {
        let p = poll(None);
        assert_eq!(
            decide(&p, &["friend@example.com".into()], &[]),
            Verdict::Accept {
                sender: "friend@example.com".into(),
                trust: "contact"
            }
        );
        assert_eq!(
            decide(&p, &["ME@example.org".into()], &[]),
            Verdict::Accept {
                sender: "me@example.org".into(),
                trust: "owner"
            }
        );
        assert_eq!(
            decide(&p, &["x@example.com".into()], &[]),
            Verdict::Skip("not_allowed")
        );
        assert_eq!(decide(&p, &[], &[]), Verdict::Skip("no_from"));
        assert_eq!(
            decide(&p, &["friend@example.com".into(), "x@y.co".into()], &[]),
            Verdict::Skip("several_from")
        );
    }

    #[test]
    fn authentication_results_must_vouch_for_the_from_domain() {
        let p = poll(Some("mx.example.net"));
        let from = ["friend@example.com".to_owned()];
        let ok = "mx.example.net; dkim=pass header.d=example.com header.s=s1; spf=fail";
        assert!(matches!(
            decide(&p, &from, &[ok.into()]),
            Verdict::Accept { .. }
        ));
        let spf = "mx.example.net; spf=pass smtp.mailfrom=bounce@example.com";
        assert!(matches!(
            decide(&p, &from, &[spf.into()]),
            Verdict::Accept { .. }
        ));
        for bad in [
            "evil.example; dkim=pass header.d=example.com",
            "mx.example.net; dkim=pass header.d=evil.example",
            "mx.example.net; dkim=fail header.d=example.com",
            "mx.example.net; spf=pass smtp.mailfrom=x@evil.example",
            "mx.example.net.evil; dkim=pass header.d=example.com",
        ] {
            assert_eq!(
                decide(&p, &from, &[bad.into()]),
                Verdict::Skip("not_authenticated"),
                "{bad}"
            );
        }
        assert_eq!(decide(&p, &from, &[]), Verdict::Skip("not_authenticated"));
    }
}
