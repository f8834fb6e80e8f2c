//! Tests for the sanitizer. Secret-looking values are assembled at run time
//! (`format!`/`repeat`) so that no real-looking token is committed as one
//! literal.

use super::patterns::{AWS_SECRET_KIND, PAIR_KIND};
use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::OnceLock;

fn sanitizer() -> &'static Sanitizer {
    static S: OnceLock<Sanitizer> = OnceLock::new();
    S.get_or_init(Sanitizer::new)
}

fn red(s: &str) -> String {
    sanitizer().redact_str(s).0.into_owned()
}

fn b64(data: &[u8]) -> String {
    codec::base64_encode(data, codec::Alphabet::Standard)
}

/// A sample: the text, its expected redaction, and the kind reported.
struct Sample {
    text: String,
    expected: String,
    kind: &'static str,
}

fn s(text: String, expected: String, kind: &'static str) -> Sample {
    Sample {
        text,
        expected,
        kind,
    }
}

/// Placeholder for `kind`.
fn r(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

fn samples() -> Vec<Sample> {
    let tok = "aB3dEf9hK2mN".repeat(3);
    let gh = "A1b2".repeat(9);
    let aws_id = format!("AKIA{}", "Q3ZK7P2M".repeat(2));
    let aws_secret = "wJalrXUt/K7MDENG+bPx".repeat(2);
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}",
        "SflKxwRJSMeKKF2QT4fwpM".repeat(2)
    );
    let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n".repeat(3);
    let pem = |label: &str| format!("-----BEGIN {label}-----\n{body}-----END {label}-----");
    let basic = b64(b"admin:hunter2");
    let mut v = vec![
        s(
            format!("Authorization: Bearer {tok}"),
            format!("Authorization: Bearer {}", r("bearer_token")),
            "bearer_token",
        ),
        s(
            format!("curl -H 'authorization: token {gh}x'"),
            format!("curl -H 'authorization: token {}'", r(AUTH_KIND)),
            AUTH_KIND,
        ),
        s(
            format!("use Bearer {tok} here"),
            format!("use Bearer {} here", r("bearer_token")),
            "bearer_token",
        ),
        s(
            format!("Authorization: Basic {basic}"),
            format!("Authorization: Basic {}", r("basic_auth")),
            "basic_auth",
        ),
        s(
            format!("key sk-ant-api03-{}AA", "Xy7_q-".repeat(15)),
            format!("key {}", r("anthropic_api_key")),
            "anthropic_api_key",
        ),
        s(
            format!("OPENAI sk-proj-{}", "Ab9_Zx-".repeat(10)),
            format!("OPENAI {}", r("openai_api_key")),
            "openai_api_key",
        ),
        s(
            format!("k=sk-{}.", "T3s9".repeat(12)),
            format!("k={}.", r("openai_api_key")),
            "openai_api_key",
        ),
        s(
            format!("id {aws_id} ok"),
            format!("id {} ok", r("aws_access_key_id")),
            "aws_access_key_id",
        ),
        s(
            format!("ASIA{}", "Z9Y8X7W6V5U4T3S2"),
            r("aws_access_key_id"),
            "aws_access_key_id",
        ),
        s(
            format!("aws_secret_access_key = {aws_secret}\n"),
            format!("aws_secret_access_key = {}\n", r(AWS_SECRET_KIND)),
            AWS_SECRET_KIND,
        ),
        s(
            format!("{{\"SecretAccessKey\": \"{aws_secret}\"}}"),
            format!("{{\"SecretAccessKey\": \"{}\"}}", r(AWS_SECRET_KIND)),
            AWS_SECRET_KIND,
        ),
        s(
            format!("Access key ID,Secret access key\n{aws_id},{aws_secret}\n"),
            format!(
                "Access key ID,Secret access key\n{},{}\n",
                r("aws_access_key_id"),
                r(AWS_SECRET_KIND)
            ),
            AWS_SECRET_KIND,
        ),
        s(format!("ghp_{gh}"), r("github_token"), "github_token"),
        s(
            format!("gho_{gh} "),
            format!("{} ", r("github_token")),
            "github_token",
        ),
        s(
            format!("(ghs_{gh})"),
            format!("({})", r("github_token")),
            "github_token",
        ),
        s(format!("ghu_{gh}"), r("github_token"), "github_token"),
        s(format!("ghr_{gh}"), r("github_token"), "github_token"),
        s(
            format!("github_pat_{}_{}", "11ABCDEFG".repeat(2), "x9Y8".repeat(15)),
            r("github_token"),
            "github_token",
        ),
        s(
            format!("glpat-{}", "xY7-zQ2_".repeat(3)),
            r("gitlab_token"),
            "gitlab_token",
        ),
        s(
            format!(
                "xoxb-{}-{}-{}",
                "1234567890",
                "0987654321",
                "AbCdEf".repeat(4)
            ),
            r("slack_token"),
            "slack_token",
        ),
        s(
            format!(
                "https://hooks.slack.com/services/T0{}/B0{}/{}",
                "ABC123",
                "DEF456",
                "x1Y2".repeat(6)
            ),
            format!("https://hooks.slack.com/{}", r("slack_webhook")),
            "slack_webhook",
        ),
        s(
            format!("sk_live_{}", "4eC39HqLyjWD".repeat(2)),
            r("stripe_key"),
            "stripe_key",
        ),
        s(
            format!("rk_live_{}", "4eC39HqLyjWD".repeat(2)),
            r("stripe_key"),
            "stripe_key",
        ),
        s(
            format!("sk_test_{}", "4eC39HqLyjWD".repeat(2)),
            r("stripe_key"),
            "stripe_key",
        ),
        s(
            format!("key=AIza{}-Xy\"", "SyA1b2C3d4".repeat(3) + "e5"),
            format!("key={}\"", r("google_api_key")),
            "google_api_key",
        ),
        s(
            format!("ya29.{}", "a0AfH6SMB".repeat(4)),
            r("google_oauth_token"),
            "google_oauth_token",
        ),
        s(
            format!("npm_{}", "aB3d".repeat(9)),
            r("npm_token"),
            "npm_token",
        ),
        s(format!("jwt: {jwt}."), format!("jwt: {}.", r("jwt")), "jwt"),
        s(format!("x {jwt} y"), format!("x {} y", r("jwt")), "jwt"),
        s(
            format!("before\n{}\nafter", pem("RSA PRIVATE KEY")),
            format!("before\n{}\nafter", r("private_key")),
            "private_key",
        ),
        s(pem("EC PRIVATE KEY"), r("private_key"), "private_key"),
        s(pem("OPENSSH PRIVATE KEY"), r("private_key"), "private_key"),
        s(
            pem("ENCRYPTED PRIVATE KEY"),
            r("private_key"),
            "private_key",
        ),
        s(pem("PRIVATE KEY"), r("private_key"), "private_key"),
        s(
            format!("key:\n-----BEGIN PRIVATE KEY-----\n{body}"),
            format!("key:\n{}\n", r("private_key")),
            "private_key",
        ),
        s(
            "see https://alice:s3cr3t@example.com/path?q=1".into(),
            format!("see https://{}@example.com/path?q=1", r("url_userinfo")),
            "url_userinfo",
        ),
        s(
            format!("git clone https://{gh}@github.com/o/r"),
            format!("git clone https://{}@github.com/o/r", r("url_userinfo")),
            "url_userinfo",
        ),
        s(
            "DATABASE_URL=postgres://app:pa55w0rd@db.internal:5432/app".into(),
            format!(
                "DATABASE_URL=postgres://{}@db.internal:5432/app",
                r("connection_string")
            ),
            "connection_string",
        ),
        s(
            "mysql://root:p@ss@localhost/db".into(),
            format!("mysql://{}@localhost/db", r("connection_string")),
            "connection_string",
        ),
        s(
            "mongodb+srv://u:pw@cluster0.mongodb.net/test".into(),
            format!(
                "mongodb+srv://{}@cluster0.mongodb.net/test",
                r("connection_string")
            ),
            "connection_string",
        ),
        s(
            "redis://:hunter2@cache:6379/0".into(),
            format!("redis://{}@cache:6379/0", r("connection_string")),
            "connection_string",
        ),
        s(
            "amqp://guest:guest@rabbit//".into(),
            format!("amqp://{}@rabbit//", r("connection_string")),
            "connection_string",
        ),
        s(
            "Server=db;Database=app;User Id=sa;Password=Pa55 word!;Encrypt=true".into(),
            format!(
                "Server=db;Database=app;User Id=sa;Password={};Encrypt=true",
                r("connection_string")
            ),
            "connection_string",
        ),
        s(
            "login ok user=bob password=hunter2 ip=10.0.0.1".into(),
            format!("login ok user=bob password={} ip=10.0.0.1", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "passwd: hunter2".into(),
            format!("passwd: {}", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "db:\n  password: correct horse battery\n  user: x".into(),
            format!("db:\n  password: {}\n  user: x", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "pwd=abc123".into(),
            format!("pwd={}", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "secret = 's3cret'".into(),
            format!("secret = '{}'", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "GET /cb?access_token=abc123&state=xyz".into(),
            format!("GET /cb?access_token={}&state=xyz", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "api_key=k-123".into(),
            format!("api_key={}", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            r#"{"apikey": "k 1 2", "n": 1}"#.into(),
            format!(r#"{{"apikey": "{}", "n": 1}}"#, r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            r#"client_secret="a\"b""#.into(),
            format!(r#"client_secret="{}""#, r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            r#"{\"password\":\"hunter2\",\"u\":1}"#.into(),
            format!(r#"{{\"password\":\"{}\",\"u\":1}}"#, r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "export GITHUB_TOKEN=abc123\n".into(),
            format!("export GITHUB_TOKEN={}\n", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "X-Auth-Token: 0123abcd\r\n".into(),
            format!("X-Auth-Token: {}\r\n", r(PAIR_KIND)),
            PAIR_KIND,
        ),
        s(
            "{token: t0k, user: x}".into(),
            format!("{{token: {}, user: x}}", r(PAIR_KIND)),
            PAIR_KIND,
        ),
    ];
    // Issue 12, finding 6: formats that were missed.
    let slack_tail = format!("{}-{}", "1234567890", "AbCdEf".repeat(4));
    for prefix in ["xapp-1", "xoxe-1", "xoxe.xoxp-1"] {
        v.push(s(
            format!("token {prefix}-{slack_tail} ok"),
            format!("token {} ok", r("slack_token")),
            "slack_token",
        ));
    }
    v.push(s(
        format!("signing whsec_{}", "Mv4tS8kQ".repeat(4)),
        format!("signing {}", r("stripe_webhook_secret")),
        "stripe_webhook_secret",
    ));
    v.push(s(
        format!(
            "bot 110201543:AA{}, go",
            "HdqTcvCH1vGWJ".repeat(3)[..33].to_owned()
        ),
        format!("bot {}, go", r("telegram_bot_token")),
        "telegram_bot_token",
    ));
    v.push(s(
        format!("HF hf_{}", "qWeRtYuIoP".repeat(4) + "_end"),
        format!("HF {}_end", r("huggingface_token")),
        "huggingface_token",
    ));
    v.push(s(
        format!(
            "SG.{}.{}",
            "aB3_dE6-gH9".repeat(2),
            "Zy8xW7".repeat(7) + "v-"
        ),
        r("sendgrid_api_key"),
        "sendgrid_api_key",
    ));
    // A known token inside a generic pair keeps the specific kind.
    v.push(s(
        format!("token=ghp_{gh}"),
        format!("token={}", r("github_token")),
        "github_token",
    ));
    v
}

#[test]
fn constructs() {
    let s = Sanitizer::default();
    assert!(s.patterns.len() == SPECS.len());
    assert!(s.redact_str("hello").1.is_empty());
}

#[test]
fn every_pattern_is_redacted_with_its_kind() {
    for sample in samples() {
        let (out, kinds) = sanitizer().redact_str(&sample.text);
        assert_eq!(out, sample.expected, "input: {:?}", sample.text);
        assert!(
            kinds.contains(&sample.kind),
            "{:?}: kinds {kinds:?}",
            sample.text
        );
        assert_eq!(red(&out), out, "not idempotent: {:?}", sample.text);
    }
}

#[test]
fn every_kind_has_a_sample() {
    let covered: Vec<&str> = samples().iter().map(|s| s.kind).collect();
    for spec in SPECS {
        assert!(covered.contains(&spec.kind), "no sample for {}", spec.kind);
    }
}

#[test]
fn near_misses_are_unchanged() {
    let uuid = "123e4567-e89b-12d3-a456-426614174000";
    let sha = "3f786850e387550fdab836ed7e6dc881de23001b";
    let cases = [
        "Please enter your password to continue.".to_string(),
        "The password field is required; passwords must be long.".into(),
        "Check the token: it expired yesterday".into(),
        "We use a risk-based approach with sk-learn and task-runner.".into(),
        "The task-ant-colony-simulation-v2 and the disk_test_functionality1234 run.".into(),
        format!("commit {sha}"),
        format!("request id {uuid}"),
        format!(r#"{{"id": "{uuid}", "sha": "{sha}"}}"#),
        "The bearer of this letter is trusted.".into(),
        "Bearer tokens are described in RFC 6750.".into(),
        "Basic authentication is supported, see basic usage.".into(),
        "Write to alice@example.com or bob.smith+tag@mail.example.org".into(),
        "https://example.com/path?q=1#frag and http://localhost:8080/".into(),
        "ssh://git@github.com/org/repo.git and git@github.com:org/repo".into(),
        "TAKIAWASHI and AKIAMBO are not keys; AKIA alone neither".into(),
        "token= and token=&next=1 and password=\"\"".into(),
        r#"{"password": null, "token": "", "secret": false}"#.into(),
        "max_tokens: 1024, input_tokens=5, token_count: 3".into(),
        "PWD=/home/user\nOLDPWD=/tmp\n".into(),
        "SGVsbG8gd29ybGQsIHRoaXMgaXMgb3JkaW5hcnkgZGF0YSBpbiBiYXNlNjQ=".into(),
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----".into(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".into(),
        "Authorization: required for admin endpoints".into(),
        "eyJ alone, a.b.c, and ghp_short".into(),
        "a [REDACTED:github_token] placeholder stays".into(),
        "héllo wörld ✓ 日本語".into(),
        "let token = env::var(\"TOKEN\")?; password = self.password".into(),
        "client(api_key=os.environ[\"KEY\"], password=args.password)".into(),
        "fn check(password: &str) -> bool { password.len() > 8 }".into(),
        "  password: req.body.password,\n  token: getToken(),".into(),
    ];
    for c in &cases {
        let (out, kinds) = sanitizer().redact_str(c);
        assert!(matches!(out, Cow::Borrowed(_)), "changed: {c:?} -> {out:?}");
        assert!(kinds.is_empty(), "{c:?}");
    }
}

#[test]
fn fake_placeholder_does_not_shield_a_secret() {
    let lower = format!("ghp_{}", "a1b2".repeat(9));
    let text = format!("[REDACTED:{lower}]");
    assert_eq!(red(&text), format!("[REDACTED:{}]", r("github_token")));
}

#[test]
fn sanitize_nested_json() {
    let gh = format!("ghp_{}", "A1b2".repeat(9));
    let tok = "aB3dEf9hK2mN".repeat(3);
    let mut v = json!({
        "a": {"b": ["ok", format!("token={gh}")], gh.clone(): 1},
        "password": "hunter2",
        "headers": {"Authorization": "Bearer x"},
        "list": [{"x": format!("Bearer {tok}")}, 3, null, true],
        "PWD": "/home/u",
        "we/ird~": format!("{gh} "),
    });
    let mut reds = sanitizer().sanitize(&mut v);
    reds.sort_by(|a, b| a.path.cmp(&b.path));
    let got: Vec<(&str, &str)> = reds.iter().map(|r| (r.path.as_str(), r.kind)).collect();
    assert_eq!(
        got,
        vec![
            ("/a/[REDACTED:github_token] (key)", "github_token"),
            ("/a/b/1", "github_token"),
            ("/headers/Authorization", AUTH_KIND),
            ("/list/0/x", "bearer_token"),
            ("/password", PAIR_KIND),
            ("/we~1ird~0", "github_token"),
        ]
    );
    assert_eq!(
        v,
        json!({
            "a": {"b": ["ok", "token=[REDACTED:github_token]"], "[REDACTED:github_token]": 1},
            "password": "[REDACTED:credential_pair]",
            "headers": {"Authorization": "[REDACTED:authorization_header]"},
            "list": [{"x": "Bearer [REDACTED:bearer_token]"}, 3, null, true],
            "PWD": "/home/u",
            "we/ird~": "[REDACTED:github_token] ",
        })
    );
    let dump = format!("{reds:?}");
    assert!(!dump.contains(&gh) && !dump.contains("hunter2") && !dump.contains(&tok));
    assert!(sanitizer().sanitize(&mut v.clone()).is_empty());
}

#[test]
fn colliding_redacted_keys_are_all_kept() {
    let k1 = format!("ghp_{}", "A1b2".repeat(9));
    let k2 = format!("ghp_{}", "C3d4".repeat(9));
    let mut v = json!({ k1: 1, k2: 2, "[REDACTED:github_token]": 0 });
    let reds = sanitizer().sanitize(&mut v);
    assert_eq!(reds.len(), 2);
    let obj = v.as_object().map(|m| m.len());
    assert_eq!(obj, Some(3));
    let mut vals: Vec<i64> = v
        .as_object()
        .into_iter()
        .flat_map(|m| m.values().filter_map(Value::as_i64))
        .collect();
    vals.sort_unstable();
    assert_eq!(vals, vec![0, 1, 2]);
    assert!(v.get("[REDACTED:github_token#2]").is_some());
    assert!(v.get("[REDACTED:github_token#3]").is_some());
    assert!(sanitizer().sanitize(&mut v.clone()).is_empty());
}

#[test]
fn colliding_keys_without_trailing_placeholder() {
    // Found by proptest: the collision suffix must itself be a placeholder.
    let mut v = json!({";Password=-----END RSA PRIVATE KEY-----": null, ";Password==": null});
    assert_eq!(sanitizer().sanitize(&mut v).len(), 2);
    assert_eq!(v.as_object().map(|m| m.len()), Some(2));
    assert!(sanitizer().sanitize(&mut v.clone()).is_empty());
}

#[test]
fn root_string_path_is_empty() {
    let mut v = Value::String("password=x1".into());
    let reds = sanitizer().sanitize(&mut v);
    assert_eq!(
        reds,
        vec![Redaction {
            path: String::new(),
            kind: PAIR_KIND
        }]
    );
}

/// Fragments that combine into secret-rich and adversarial strings.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("password".to_string()),
        Just("token".to_string()),
        Just("Bearer ".to_string()),
        Just("Basic ".to_string()),
        Just("Authorization: ".to_string()),
        Just("sk-".to_string()),
        Just("ghp_".to_string()),
        Just("AKIA".to_string()),
        Just("AIza".to_string()),
        Just("eyJ".to_string()),
        Just("://".to_string()),
        Just("postgres://".to_string()),
        Just("-----BEGIN RSA PRIVATE KEY-----".to_string()),
        Just("-----END RSA PRIVATE KEY-----".to_string()),
        Just("[REDACTED:github_token]".to_string()),
        Just("[REDACTED:".to_string()),
        Just(";Password=".to_string()),
        "[=:@;,\"' \n\t/\\\\.\\]\\[-]".prop_map(String::from),
        "[A-Za-z0-9+/_-]{1,40}",
        any::<String>(),
    ]
}

fn messy_string() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..12).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        messy_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        messy_string(),
                        Just("password".into()),
                        Just("api_key".into()),
                        Just("Authorization".into())
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Words that cannot start a pattern on their own (at most 5 letters, no
/// digits or separators).
fn clean_text() -> impl Strategy<Value = String> {
    "([a-z]{1,5}[ ,.]){0,6}"
}

// Case count: proptest's default (256), or `PROPTEST_CASES`.
proptest! {
    #[test]
    fn arbitrary_strings_never_panic_and_are_idempotent(s in any::<String>()) {
        let once = red(&s);
        prop_assert_eq!(red(&once), once);
    }

    #[test]
    fn messy_strings_are_idempotent(s in messy_string()) {
        let (once, _) = sanitizer().redact_str(&s);
        let (twice, kinds) = sanitizer().redact_str(&once);
        prop_assert_eq!(&twice, &once);
        prop_assert!(kinds.is_empty());
    }

    #[test]
    fn json_is_idempotent(mut v in json_value()) {
        sanitizer().sanitize(&mut v);
        let once = v.clone();
        let again = sanitizer().sanitize(&mut v);
        prop_assert!(again.is_empty(), "{:?}", again);
        prop_assert_eq!(v, once);
    }

    #[test]
    fn prefilter_never_hides_a_match(text in messy_string()) {
        let all_rows = ((1u64 << SPECS.len()) - 1) | HOLE_BIT;
        let san = sanitizer();
        let none = KnownSecrets::default();
        let gated = san.redact_once(&text, san.scan(&text), &none).map(|(t, _)| t);
        let ungated = san.redact_once(&text, all_rows, &none).map(|(t, _)| t);
        prop_assert_eq!(gated, ungated);
    }

    #[test]
    fn clean_text_is_untouched(s in clean_text()) {
        prop_assert!(matches!(sanitizer().redact_str(&s).0, Cow::Borrowed(_)));
    }

    #[test]
    fn context_around_a_secret_survives(
        pre in clean_text(),
        post in clean_text(),
        i in 0usize..1000,
    ) {
        // An unterminated PEM block legitimately runs to the end.
        let all: Vec<Sample> = samples()
            .into_iter()
            .filter(|s| !s.text.contains("-----BEGIN") || s.text.contains("-----END"))
            .collect();
        let sample = &all[i % all.len()];
        let text = format!("{pre}\n{}\n{post}", sample.text);
        prop_assert_eq!(red(&text), format!("{pre}\n{}\n{post}", sample.expected));
    }
}

/// Best-of-rounds mean time of `f`, in ns (robust to a busy machine).
fn best_ns(mut f: impl FnMut()) -> f64 {
    let iters = 2_000u32;
    (0..15)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(iters)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Timing of `sanitize` on ~1 KiB JSON answers. Not an assertion: run with
/// `cargo test --release -- --ignored --nocapture bench_`.
#[test]
#[ignore]
fn bench_sanitize_json() {
    let clean = json!({
        "ok": true,
        "items": (0..5).map(|i| json!({
            "id": i,
            "title": format!("Fix the flaky test number {i} in the scheduler"),
            "state": "open",
            "labels": ["bug", "ci"],
            "author": {"login": "octocat", "type": "User"},
            "comments": i * 3,
            "body": "The scheduler sometimes drops a job when two timers fire together.",
        })).collect::<Vec<_>>(),
    });
    let with_urls = json!({
        "items": (0..6).map(|i| json!({
            "id": i,
            "url": format!("https://api.github.com/repos/o/r/issues/{i}"),
            "html_url": format!("https://github.com/o/r/issues/{i}"),
            "usage": {"input_tokens": 120, "output_tokens": 80},
            "title": "Bump the token bucket size: 10 = 20",
        })).collect::<Vec<_>>(),
    });
    let s = Sanitizer::new();
    for (name, doc) in [("clean prose", clean), ("URLs + 'token' words", with_urls)] {
        let len = serde_json::to_string(&doc).map(|t| t.len()).unwrap_or(0);
        let mut v = doc.clone();
        let sanitize = best_ns(|| {
            std::hint::black_box(s.sanitize(std::hint::black_box(&mut v)));
        });
        println!("{name}: {len} B JSON, sanitize {:.2} µs", sanitize / 1e3);
    }
    for text in [
        "id",
        "Fix the flaky test number 3 in the scheduler",
        "https://api.github.com/repos/o/r/issues/1",
        "input_tokens",
        "Bump the token bucket size: 10 = 20",
    ] {
        let scan = best_ns(|| {
            std::hint::black_box(s.scan(std::hint::black_box(text)));
        });
        let redact = best_ns(|| {
            std::hint::black_box(s.redact_str(std::hint::black_box(text)));
        });
        println!("{text:?}: prefilter {scan:.0} ns, redact_str {redact:.0} ns");
    }
}

#[test]
fn redact_cut_redacts_before_it_cuts() {
    let token = format!("ghp_{}", "Q7wE9rT2yU4i".repeat(3));
    let text = format!("{} {token}", "p".repeat(49));
    let cut = sanitizer().redact_cut(&text, 64);
    assert!(!cut.contains(&token[4..12]), "{cut}");
    assert!(cut.starts_with(&"p".repeat(49)), "{cut}");
    assert_eq!(cut.chars().count(), 64);
    // Cutting first would have left a fragment no pattern matches.
    let cut_first: String = text.chars().take(64).collect();
    assert_eq!(red(&cut_first), cut_first);
    assert_eq!(sanitizer().redact_cut("short", 64), "short");
}

#[test]
fn a_pem_key_as_an_array_of_lines_is_redacted_line_by_line() {
    let line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
    let mut v = json!({"key": [
        "-----BEGIN PRIVATE KEY-----", line, format!("{line}/+"), "-----END PRIVATE KEY-----",
        "after the key"
    ], "other": ["-----BEGIN PUBLIC KEY-----", line, "-----END PUBLIC KEY-----"]});
    let redactions = sanitizer().sanitize(&mut v);
    let key = v["key"].as_array().expect("array");
    for item in &key[..4] {
        assert_eq!(item, &json!(r("private_key")), "{v}");
    }
    assert_eq!(key[4], json!("after the key"));
    assert_eq!(v["other"][1], json!(line), "a public key is left alone");
    assert!(redactions.iter().all(|r| r.kind == "private_key"));
    let again = v.clone();
    assert!(sanitizer().sanitize(&mut v).is_empty());
    assert_eq!(v, again);
}

#[test]
fn a_name_value_pair_naming_a_secret_is_redacted() {
    let value = format!("pw-{}", "x7Q".repeat(4));
    let mut v = json!({"env": [
        {"name": "DB_PASSWORD", "value": value},
        {"Name": "/prod/api_key", "Value": value},
        {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "GITHUB_TOKEN", "value": ""},
    ]});
    sanitizer().sanitize(&mut v);
    assert_eq!(v["env"][0]["value"], json!(r(PAIR_KIND)));
    assert_eq!(v["env"][0]["name"], json!("DB_PASSWORD"));
    assert_eq!(v["env"][1]["Value"], json!(r(PAIR_KIND)));
    assert_eq!(v["env"][2]["value"], json!("debug"));
    assert_eq!(v["env"][3]["value"], json!(""));
}

/// A random value of `n` bytes, made now.
fn random_value(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut buf = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut buf);
    buf
}

fn percent_all(data: &[u8]) -> String {
    data.iter().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn stored_values_and_their_encodings_are_redacted() {
    let san = Sanitizer::new();
    let text_value = format!("Tk-{}", hex::encode(random_value(12)));
    let binary = random_value(24);
    let spaced = format!("two words {}", hex::encode(random_value(6)));
    let plain = format!("{text_value} and {spaced}");
    assert_eq!(san.redact_str(&plain).0, plain, "nothing known yet");
    san.set_known(KnownSecrets::new([
        text_value.as_bytes(),
        &binary,
        spaced.as_bytes(),
        b"short",
    ]));
    assert_eq!(san.known_count(), 3);
    let url_safe = |s: String| s.replace('+', "-").replace('/', "_");
    let mut forms = vec![text_value.clone(), spaced.clone()];
    for value in [text_value.as_bytes(), &binary[..], spaced.as_bytes()] {
        forms.push(b64(value));
        forms.push(b64(value).trim_end_matches('=').to_owned());
        forms.push(url_safe(b64(value)));
        forms.push(url_safe(b64(value)).trim_end_matches('=').to_owned());
        forms.push(hex::encode(value));
        forms.push(hex::encode_upper(value));
        forms.push(percent_all(value));
        forms.push(percent_all(value).to_ascii_lowercase());
    }
    forms.push(spaced.replace(' ', "%20"));
    forms.push(spaced.replace(' ', "+"));
    for form in &forms {
        let text = format!("before {form} after");
        let (out, kinds) = san.redact_str(&text);
        assert_eq!(out, format!("before {} after", r(KNOWN_KIND)), "{text}");
        assert_eq!(kinds, vec![KNOWN_KIND]);
        assert_eq!(san.redact_str(&out).0, out, "idempotent");
    }
    // Inside a longer base64 blob (HTTP Basic), at any offset.
    let basic = b64(format!("user:{text_value}").as_bytes());
    assert!(!san.redact_str(&basic).1.is_empty(), "{basic}");
    // In JSON: values, keys, and text that holds the value.
    let mut v = json!({"a": [format!("x{text_value}y")], text_value.clone(): 1});
    san.sanitize(&mut v);
    assert!(!v.to_string().contains(&text_value), "{v}");
    // A new set replaces the old one at once.
    san.set_known(KnownSecrets::default());
    assert_eq!(san.redact_str(&plain).0, plain);
}

#[test]
fn a_stored_value_inside_a_placeholder_does_not_loop() {
    let san = Sanitizer::new();
    san.set_known(KnownSecrets::new([&b"REDACTED:stored"[..]]));
    let text = "a REDACTED:stored b";
    let once = san.redact_str(text).0.into_owned();
    assert_eq!(once, format!("a {} b", r(KNOWN_KIND)));
    assert_eq!(san.redact_str(&once).0, once);
}

#[test]
fn encoded_copies_of_credentials_are_redacted_whole() {
    let gh = format!("ghp_{}", "A1b2".repeat(9));
    let bearer = format!("Authorization: Bearer {}", "tok9".repeat(6));
    let anthropic = format!("sk-ant-api03-{}", "Xy7_q-".repeat(5));
    let hex_of = |s: &str| hex::encode(s.as_bytes());
    let pct = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let url_b64 = b64(bearer.as_bytes()).replace('+', "-").replace('/', "_");
    let cases = [
        (b64(gh.as_bytes()), "github_token"),
        (b64(format!("config: {gh}").as_bytes()), "github_token"),
        (url_b64.trim_end_matches('=').to_owned(), "bearer_token"),
        (hex_of(&anthropic), "anthropic_api_key"),
        (hex_of(&anthropic).to_ascii_uppercase(), "anthropic_api_key"),
        (pct(&bearer), "bearer_token"),
        (pct("password=hunter2x"), PAIR_KIND),
    ];
    for (encoded, kind) in cases {
        let text = format!("data {encoded} end");
        let (out, kinds) = sanitizer().redact_str(&text);
        assert_eq!(out, format!("data {} end", r(kind)), "{text}");
        assert_eq!(kinds, vec![kind]);
        assert_eq!(red(&out), out);
    }
    let query = format!("GET /cb?code=1&auth={}&x=2", pct(&bearer));
    assert_eq!(
        red(&query),
        format!("GET /cb?code=1&auth={}&x=2", r("bearer_token"))
    );
    for clean in [
        b64(b"an ordinary sentence that is long enough to decode"),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        "50% of 100% and 20%3 of it".into(),
        "see https://example.com/a%20b?x=%2Fpath".into(),
        "a_very_long_identifier_name_in_snake_case_that_is_plain".into(),
    ] {
        assert_eq!(red(&clean), clean);
    }
}

#[test]
fn a_token_glued_to_a_word_is_still_redacted() {
    // As after control characters were stripped from between them.
    let ant = format!("sk-ant-api03-{}", "A1b2C3d4E5".repeat(9));
    let ghp = format!("ghp_{}", "aB3".repeat(12));
    let pat = format!("github_pat_{}", "x1".repeat(20));
    let glpat = format!("glpat-{}", "Zz9".repeat(8));
    let whsec = format!("whsec_{}", "q7".repeat(16));
    for token in [&ant, &ghp, &pat, &glpat, &whsec] {
        let glued = format!("J{token} and x{token}");
        let out = red(&glued);
        assert!(
            !out.contains(&token[token.len() - 12..]),
            "{glued} -> {out}"
        );
    }
}

#[test]
fn base64url_data_is_not_taken_for_a_glued_token() {
    // Seeded, so the same bytes every run: 256 KiB of base64url, where
    // `ghs_` and the like occur inside longer runs of token characters.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut data = String::with_capacity(256 * 1024);
    for _ in 0..256 * 1024 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.push(ALPHABET[(state % 64) as usize] as char);
    }
    // Planted inside the data: the glued form needs a boundary after 36.
    data.insert_str(1000, &format!("xghs_{}yy", "Ab1".repeat(14)));
    let (out, kinds) = sanitizer().redact_str(&data);
    assert!(kinds.is_empty(), "{kinds:?}");
    assert!(matches!(out, Cow::Borrowed(_)));
}
