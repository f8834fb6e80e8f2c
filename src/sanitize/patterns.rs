//! The credential pattern table: one row per regex, each with a kind, the
//! literal anchors the prefilter looks for, and an optional validator.
//!
//! Row order is priority: when matches of different rows overlap, the merged
//! redaction is labelled with the kind of the earliest row, so specific
//! token formats come first and generic context patterns last.
//!
//! Conventions: a regex redacts its first capture group that participated in
//! the match, or the whole match when it has no groups. `(?-u:\b)` (ASCII
//! word boundary) is used throughout so the lazy DFA never has to bail out
//! on non-ASCII input.

/// Checks a candidate span (the text that would be redacted).
pub(super) type Validator = fn(&str) -> bool;

/// One row of the table.
pub(super) struct Spec {
    /// The kind reported and written into the placeholder.
    pub kind: &'static str,
    /// The regex; see the module doc for the capture-group convention.
    pub regex: &'static str,
    /// Literals (matched ASCII case-insensitively) at least one of which
    /// occurs in every match of `regex`.
    pub anchors: &'static [&'static str],
    /// Extra check on the span; `None` accepts every match.
    pub validate: Option<Validator>,
    /// Bytes of which at least one occurs in every match (empty: no
    /// requirement); a second, memchr-speed gate after the anchors.
    pub needs: &'static [u8],
    /// The anchors end a credential label that every match follows with a
    /// separator (`\\?["']?[ \t]*[:=]`); the prefilter enables the row only
    /// for such an occurrence, so prose like "max_tokens" costs nothing.
    pub label: bool,
}

/// Key labels whose value is a secret: `db_password`, `GITHUB_TOKEN`,
/// `clientSecret`, `x-api-key`... The keyword must end the label, so
/// `max_tokens` or `token_count` are not labels.
macro_rules! label {
    () => {
        r"[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|secret[_-]?(?:access[_-]?)?key|private[_-]?key)"
    };
}

/// Optional closing quote of a quoted label (possibly JSON-escaped), then the
/// separator `=`, `:`, `:=` or `=>`.
macro_rules! sep {
    () => {
        r#"\\?["']?[ \t]*(?::=|=>|[:=])[ \t]*"#
    };
}

/// Label part of the AWS secret access key patterns.
macro_rules! aws_label {
    () => {
        r"(?:(?:aws[_-]?)?secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key)"
    };
}

const PAIR_ANCHORS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "private_key",
    "private-key",
    "privatekey",
    "secret_key",
    "secret-key",
    "secretkey",
    "access_key",
    "access-key",
    "accesskey",
];

/// How the AWS label can end (see `aws_label!`).
const AWS_LABEL_ANCHORS: &[&str] = &[
    "secret_key",
    "secret-key",
    "secretkey",
    "access_key",
    "access-key",
    "accesskey",
];

/// Kind used for `label=value` pairs.
pub(super) const PAIR_KIND: &str = "credential_pair";
/// Kind used for the `Authorization` header.
pub(super) const AUTH_KIND: &str = "authorization_header";
/// Kind used for AWS secret access keys.
pub(super) const AWS_SECRET_KIND: &str = "aws_secret_access_key";

/// Whole-key regexes for JSON object keys whose string value is redacted
/// entirely, with the kind to report.
pub(super) const KEY_LABELS: &[(&str, &str)] = &[
    (concat!(r"(?i)\A", aws_label!(), r"\z"), AWS_SECRET_KIND),
    (r"(?i)\A(?:proxy-)?authorization\z", AUTH_KIND),
    (concat!(r"(?i)\A", label!(), r"\z"), PAIR_KIND),
];

/// Matches placeholders this module writes (`[REDACTED:<kind>]`, and
/// `[REDACTED:<kind>#<n>]` for renamed keys that collided); they are never
/// redacted again. Built from the table so `[REDACTED:<other>]` is not exempt.
pub(super) fn placeholder_regex() -> String {
    let mut kinds: Vec<&str> = SPECS.iter().map(|s| s.kind).collect();
    kinds.push(super::KNOWN_KIND);
    kinds.sort_unstable();
    kinds.dedup();
    format!(r"\[REDACTED:(?:{})(?:#[0-9]{{1,19}})?\]", kinds.join("|"))
}

/// The table. At most 61 rows (bits 62 and 63 of the prefilter mask are
/// flags).
pub(super) const SPECS: &[Spec] = &[
    Spec {
        kind: "private_key",
        regex: r"(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*)",
        anchors: &["-----begin"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "anthropic_api_key",
        // Glued to a word before it only in the key's own shape (`api03-`,
        // `oat01-`): `task-ant-colony-...` stays prose.
        regex: r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,}|sk-ant-(?:api|oat|admin)[0-9]{2}-[A-Za-z0-9_-]{20,}",
        anchors: &["sk-ant-"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "openai_api_key",
        regex: r"(?-u:\b)sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}",
        anchors: &["sk-proj-", "sk-svcacct-", "sk-admin-"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "openai_api_key",
        regex: r"(?-u:\b)sk-[A-Za-z0-9]{32,}",
        anchors: &["sk-"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "github_token",
        // Glued to a word before it only as exactly 36 characters ending at
        // a word boundary, so base64url data (`...ghs_<36+ chars>...`) stays.
        regex: r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36,}|gh[pousr]_[A-Za-z0-9]{36}(?-u:\b)",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "github_token",
        regex: r"github_pat_[A-Za-z0-9_]{22,}",
        anchors: &["github_pat_"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "gitlab_token",
        regex: r"glpat-[A-Za-z0-9_-]{20,}",
        anchors: &["glpat-"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "slack_token",
        // Bot, user, app-level, config (`xoxe-`) and rotated (`xoxe.xoxp-`) tokens.
        regex: r"(?-u:\b)(?:xox[abposre]|xoxe\.xox[abp]|xapp)-[A-Za-z0-9-]{10,}",
        anchors: &["xox", "xapp-"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "slack_webhook",
        regex: r"hooks\.slack\.com/((?:services|workflows|triggers)/[A-Za-z0-9_/-]+)",
        anchors: &["hooks.slack.com"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "stripe_key",
        regex: r"(?-u:\b)[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
        anchors: &["k_live_", "k_test_"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "stripe_webhook_secret",
        regex: r"whsec_[A-Za-z0-9+/]{24,}={0,2}",
        anchors: &["whsec_"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "huggingface_token",
        regex: r"(?-u:\b)((?:hf_|api_org_)[A-Za-z0-9]{30,})(?:[^A-Za-z0-9]|$)",
        anchors: &["hf_", "api_org_"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "sendgrid_api_key",
        regex: r"(?-u:\b)(SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64})(?:[^A-Za-z0-9_-]|$)",
        anchors: &["sg."],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        // `<bot id>:<35 characters>`; the secret part starts with `A`.
        kind: "telegram_bot_token",
        regex: r"(?-u:\b)([0-9]{5,16}:A[A-Za-z0-9_-]{34})(?:[^A-Za-z0-9_-]|$)",
        anchors: &[":a"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "google_api_key",
        regex: r"(?-u:\b)(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)",
        anchors: &["aiza"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "google_oauth_token",
        regex: r"(?-u:\b)ya29\.[0-9A-Za-z_-]{20,}",
        anchors: &["ya29."],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "npm_token",
        regex: r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)",
        anchors: &["npm_"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: "aws_access_key_id",
        regex: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
        anchors: &["akia", "asia", "abia", "acca"],
        validate: None,
        needs: b"",
        label: false,
    },
    Spec {
        kind: AWS_SECRET_KIND,
        regex: concat!(
            r"(?i)",
            aws_label!(),
            sep!(),
            r#"\\?["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#
        ),
        anchors: AWS_LABEL_ANCHORS,
        validate: Some(aws_secret),
        needs: b"",
        label: true,
    },
    Spec {
        // An access key id followed by its secret, as in the console's CSV.
        kind: AWS_SECRET_KIND,
        regex: r#"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}\\?["']?[ \t]*[,;|:=\t][ \t]*\\?["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        anchors: &["akia", "asia"],
        validate: Some(aws_secret),
        needs: b"",
        label: false,
    },
    Spec {
        kind: "jwt",
        regex: r"(?-u:\b)eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}",
        anchors: &["eyj"],
        validate: None,
        needs: b".",
        label: false,
    },
    Spec {
        kind: "connection_string",
        regex: r#"(?i)(?-u:\b)(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle|cockroachdb|clickhouse|couchdb|neo4j|cassandra)://([^\s/?#@"'<>]*:[^\s/?#"'<>]*)@"#,
        anchors: &["://"],
        validate: None,
        needs: b"@",
        label: false,
    },
    Spec {
        // ADO.NET / ODBC: `Server=x;User Id=sa;Password=p w;`.
        kind: "connection_string",
        regex: r#"(?i);[ \t]*(?:password|pwd)=([^;\r\n"']+)|^[ \t]*(?:password|pwd)=([^;\r\n"']+);"#,
        anchors: &["password", "pwd"],
        validate: Some(unquoted_value),
        needs: b"",
        label: true,
    },
    Spec {
        kind: "url_userinfo",
        regex: r#"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://([^\s/?#@"'<>:]*(?::[^\s/?#"'<>]*)?)@"#,
        anchors: &["://"],
        validate: Some(userinfo),
        needs: b"@",
        label: false,
    },
    Spec {
        kind: "basic_auth",
        regex: r"(?i)(?-u:\b)basic[ \t]+([A-Za-z0-9+/]{6,}={0,2})",
        anchors: &["basic"],
        validate: Some(basic_credentials),
        needs: b"",
        label: false,
    },
    Spec {
        kind: "bearer_token",
        regex: r"(?i)(?-u:\b)bearer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)",
        anchors: &["bearer"],
        validate: Some(tokenish),
        needs: b"",
        label: false,
    },
    Spec {
        kind: AUTH_KIND,
        regex: concat!(
            r"(?i)(?-u:\b)(?:proxy-)?authorization",
            sep!(),
            r#"\\?["']?(?:bearer|basic|token|bot|negotiate|apikey|sso-key)[ \t]+([^\s"',;\\]+)"#
        ),
        anchors: &["authorization"],
        validate: None,
        needs: b"",
        label: true,
    },
    Spec {
        kind: AUTH_KIND,
        regex: concat!(
            r"(?i)(?-u:\b)(?:proxy-)?authorization",
            sep!(),
            r#"\\?["']?([^\s"',;\\]{16,})"#
        ),
        anchors: &["authorization"],
        validate: Some(tokenish),
        needs: b"",
        label: true,
    },
    Spec {
        // Quoted value, any separator; also JSON escaped inside a string.
        kind: PAIR_KIND,
        regex: concat!(
            r"(?i)",
            label!(),
            sep!(),
            r#"(?:\\"((?:[^"\\]|\\[^"])*)\\"|"((?:[^"\\\r\n]|\\.)*)"|'([^'\r\n]*)')"#
        ),
        anchors: PAIR_ANCHORS,
        validate: Some(pair_value),
        needs: b"",
        label: true,
    },
    Spec {
        // Unquoted value after `=` (`a=b` or `a = b`, not `a= b`): up to
        // whitespace or a delimiter.
        kind: PAIR_KIND,
        regex: concat!(
            r#"(?i)"#,
            label!(),
            r#"\\?["']?(?:(?::=|=>|=)|[ \t]+(?::=|=>|=)[ \t]*)([^\s"'&;,<>\\=`][^\s"'&;,<>\\`]*)"#
        ),
        anchors: PAIR_ANCHORS,
        validate: Some(unquoted_value),
        needs: b"",
        label: true,
    },
    Spec {
        // Unquoted value after `:`: a single token ending the entry, so that
        // prose such as "password: it must be long" is left alone.
        kind: PAIR_KIND,
        regex: concat!(
            r#"(?i)"#,
            label!(),
            r#"\\?["']?[ \t]*:[ \t]*([^\s"',;{}\[\]\\`]+)[ \t]*(?:[\r\n,;}\]\\]|$)"#
        ),
        anchors: PAIR_ANCHORS,
        validate: Some(unquoted_value),
        needs: b"",
        label: true,
    },
    Spec {
        // YAML-style `password: the rest of the line` at the start of a line.
        kind: PAIR_KIND,
        regex: concat!(
            r#"(?im)^[ \t]*(?:-[ \t]+)?"#,
            label!(),
            r#"[ \t]*:[ \t]+([^\s"'|>\[{][^\r\n]*)"#
        ),
        anchors: PAIR_ANCHORS,
        validate: Some(unquoted_value),
        needs: b"",
        label: true,
    },
];

const _: () = assert!(SPECS.len() < 62, "prefilter mask is a u64 with 2 flag bits");

/// Whether `s[at..]` starts with what separates a label from its value:
/// optional (escaped) closing quote, blanks, then `:` or `=`.
pub(super) fn separator_follows(s: &[u8], at: usize) -> bool {
    let mut i = at;
    if s.get(i) == Some(&b'\\') {
        i += 1;
    }
    if matches!(s.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    matches!(s.get(i), Some(b':' | b'='))
}

/// Rejects values that are clearly not secrets: empty, literals such as
/// `null`/`true`, and absolute paths (`PWD=/home/user`).
pub(super) fn pair_value(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() {
        return false;
    }
    const LITERALS: &[&str] = &["null", "none", "nil", "true", "false", "undefined"];
    if LITERALS.iter().any(|l| v.eq_ignore_ascii_case(l)) {
        return false;
    }
    let path_like = v.starts_with('/')
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
    !path_like
}

/// `pair_value`, minus what reads as source code rather than a secret:
/// calls and indexing (`get_token()`, `os.environ["K"]`) and dotted names
/// of letters only (`self.password`, `process.env.API_KEY`).
fn unquoted_value(v: &str) -> bool {
    let v = v.trim().trim_end_matches([',', ';', ')']);
    if v.contains(['(', '[']) {
        return false;
    }
    let dotted_name = v.contains('.')
        && v.split('.').all(|seg| {
            !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
        });
    !dotted_name && pair_value(v)
}

/// Opaque-token shape: contains both an ASCII letter and an ASCII digit.
pub(super) fn tokenish(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit()) && v.bytes().any(|b| b.is_ascii_alphabetic())
}

/// `user:password`, or a bare token used as the user (`https://TOKEN@host`).
fn userinfo(v: &str) -> bool {
    v.contains(':') || (v.len() >= 16 && tokenish(v))
}

/// AWS secret keys are random: upper, lower, and a digit or `/`/`+`.
fn aws_secret(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_uppercase())
        && v.bytes().any(|b| b.is_ascii_lowercase())
        && v.bytes()
            .any(|b| b.is_ascii_digit() || b == b'/' || b == b'+')
}

/// `Basic` credentials are base64 of printable `user:password`.
fn basic_credentials(v: &str) -> bool {
    match super::codec::base64_decode(v) {
        Some(bytes) => bytes.contains(&b':') && bytes.iter().all(|b| (0x20..0x7f).contains(b)),
        None => false,
    }
}
