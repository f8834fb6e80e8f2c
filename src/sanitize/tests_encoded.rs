//! Adversarial tests for the encodings a stored value may reach the agent
//! in: percent encoders that leave reserved characters alone, wrapped base64,
//! hex with separators, JSON numbers and the JSON escapes of Go and PHP. Every
//! value is made of random bytes at run time.

use super::*;
use rand::RngCore;
use serde_json::json;

/// `n` random bytes.
fn random(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut buf);
    buf
}

/// A 40-character AWS-secret-shaped value with both `/` and `+` in it.
fn aws_shaped() -> String {
    let mut chars: Vec<u8> = codec::base64_encode(&random(30), codec::Alphabet::Standard)
        .into_bytes()
        .into_iter()
        .take(40)
        .collect();
    chars[9] = b'/';
    chars[27] = b'+';
    String::from_utf8(chars).expect("ascii")
}

/// Percent encoding keeping RFC 3986 unreserved bytes and `keep`.
fn pct_keep(data: &[u8], keep: &[u8]) -> String {
    data.iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b if keep.contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A sanitizer that knows `values`.
fn knowing(values: &[&[u8]]) -> Sanitizer {
    let san = Sanitizer::new();
    san.set_known(KnownSecrets::new(values.iter().copied()));
    san
}

fn stored() -> String {
    format!("[REDACTED:{KNOWN_KIND}]")
}

#[test]
fn any_percent_encoder_output_of_a_stored_value_is_found() {
    let aws = aws_shaped();
    let odd = format!("{}!'(x)*{}", hex::encode(random(6)), aws_shaped());
    let san = knowing(&[aws.as_bytes(), odd.as_bytes()]);
    // Python quote (keeps `/`), quote with safe="" but lower case hex,
    // JS encodeURIComponent (keeps `!'()*`), encodeURI (keeps reserved too).
    let encoders: [fn(&str) -> String; 4] = [
        |v| pct_keep(v.as_bytes(), b"/"),
        |v| {
            let upper = pct_keep(v.as_bytes(), b"/");
            let parts: Vec<&str> = upper.split('%').collect();
            let rest = parts[1..].iter().map(|p| {
                let (code, tail) = p.split_at(2);
                format!("%{}{tail}", code.to_ascii_lowercase())
            });
            std::iter::once(parts[0].to_owned()).chain(rest).collect()
        },
        |v| pct_keep(v.as_bytes(), b"!'()*"),
        |v| pct_keep(v.as_bytes(), b"!'()*;,/?:@&=+$#"),
    ];
    for value in [&aws, &odd] {
        for encode in encoders {
            let encoded = encode(value);
            if encoded == *value {
                continue;
            }
            let text = format!("GET https://h/p?a=1&k={encoded}&x=2 done");
            let (out, kinds) = san.redact_str(&text);
            assert_eq!(
                out,
                format!("GET https://h/p?a=1&k={}&x=2 done", stored()),
                "{text}"
            );
            assert_eq!(kinds, vec![KNOWN_KIND]);
            assert_eq!(san.redact_str(&out).0, out, "idempotent");
        }
    }
    // A plain URL with escapes stays as it is.
    let clean = "see https://example.com/a%20b/(c)!?x=%2Fpath&y=1:2@z";
    assert_eq!(san.redact_str(clean).0, clean);
}

/// `blob` cut into lines of `width` joined by `eol`.
fn wrap(blob: &str, width: usize, eol: &str) -> String {
    blob.as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join(eol)
}

#[test]
fn wrapped_base64_is_joined_and_decoded() {
    let value = random(40);
    let text_value = format!("Wr-{}", hex::encode(random(16)));
    let san = knowing(&[&value, text_value.as_bytes()]);
    for secret in [&value[..], text_value.as_bytes()] {
        // The value starts at character 68 of the encoding: it spans the first break.
        let mut data = random(51);
        data.extend_from_slice(secret);
        data.extend_from_slice(&random(40));
        let blob = codec::base64_encode(&data, codec::Alphabet::Standard);
        for (width, eol) in [(76, "\n"), (76, "\r\n"), (64, "\n")] {
            let text = format!("begin\n{}\nend", wrap(&blob, width, eol));
            let (out, kinds) = san.redact_str(&text);
            assert_eq!(out, format!("begin\n{}\nend", stored()), "{width} {eol:?}");
            assert_eq!(kinds, vec![KNOWN_KIND]);
        }
    }
    // A credential pattern inside wrapped base64, too.
    let gh = format!("ghp_{}", hex::encode(random(18)));
    let blob = codec::base64_encode(
        format!("{} {gh}", "x".repeat(49)).as_bytes(),
        codec::Alphabet::Standard,
    );
    let text = wrap(&blob, 76, "\n");
    assert_eq!(
        Sanitizer::new().redact_str(&text).0,
        "[REDACTED:github_token]"
    );
    // Ordinary wrapped base64 and lines of words stay as they are.
    let plain = wrap(
        &codec::base64_encode(
            &b"an ordinary sentence, long enough to wrap twice. ".repeat(3),
            codec::Alphabet::Standard,
        ),
        76,
        "\n",
    );
    assert_eq!(san.redact_str(&plain).0, plain);
    let prose = "alpha beta\ngamma delta\nepsilonzetaetathetaiotakappa\nlambda";
    assert_eq!(san.redact_str(prose).0, prose);
}

#[test]
fn hex_with_separators_or_wraps_is_joined_and_decoded() {
    let value = random(24);
    let san = knowing(&[&value]);
    let mut data = random(13);
    data.extend_from_slice(&value);
    data.extend_from_slice(&random(9));
    let pairs: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
    let forms = [
        pairs.join(":"),
        pairs.join(" "),
        pairs.join("-").to_ascii_uppercase(),
        pairs.iter().map(|p| format!("\\x{p}")).collect::<String>(),
        pairs
            .iter()
            .map(|p| format!("0x{p}"))
            .collect::<Vec<_>>()
            .join(", "),
        wrap(&pairs.concat(), 30, "\n"),
        pairs
            .chunks(16)
            .map(|l| l.join(":"))
            .collect::<Vec<_>>()
            .join("\r\n"),
    ];
    for form in forms {
        let text = format!("dump: {form} end");
        let (out, kinds) = san.redact_str(&text);
        assert_eq!(out, format!("dump: {} end", stored()), "{text}");
        assert_eq!(kinds, vec![KNOWN_KIND]);
    }
    // xxd: offsets, groups of four digits, an ASCII column.
    let xxd: String = data
        .chunks(16)
        .enumerate()
        .map(|(i, line)| {
            let groups: Vec<String> = line.chunks(2).map(hex::encode).collect();
            let ascii: String = line
                .iter()
                .map(|&b| match b {
                    0x20..=0x7e => char::from(b),
                    _ => '.',
                })
                .collect();
            format!("{:08x}: {:<39}  {ascii}\n", i * 16, groups.join(" "))
        })
        .collect();
    let (out, kinds) = san.redact_str(&xxd);
    assert_eq!(kinds, vec![KNOWN_KIND], "{xxd}");
    let value_hex = hex::encode(&value);
    for line in out.lines() {
        let digits: String = line
            .split("  ")
            .next()
            .unwrap_or("")
            .split(' ')
            .skip(1)
            .collect();
        assert!(
            digits.len() < 8 || !value_hex.contains(&digits),
            "{line} in\n{out}"
        );
    }
    // Ordinary separated numbers stay as they are.
    for clean in [
        "10:30 11:45 12:00 13:15 14:30 15:45 16:00 17:15 18:30",
        "aa bb cc dd ee ff 00 11 22 33 44 55 66 77 88 99 aa bb",
        "mac 00:1a:2b:3c:4d:5e and 00:1a:2b:3c:4d:5f",
    ] {
        assert_eq!(san.redact_str(clean).0, clean);
    }
}

#[test]
fn a_stored_value_returned_as_a_json_number_is_redacted() {
    let digits: String = random(12)
        .iter()
        .map(|b| char::from(b'1' + b % 9))
        .collect();
    let san = knowing(&[digits.as_bytes()]);
    let within: serde_json::Value = serde_json::from_str(&format!("9{digits}")).expect("number");
    let exact: serde_json::Value = serde_json::from_str(&digits).expect("number");
    let mut v = json!({"pin": exact, "n": [within], "small": 1234, "f": 1.5});
    let redactions = san.sanitize(&mut v);
    assert_eq!(v["pin"], json!(stored()), "{v}");
    assert_eq!(v["n"][0], json!(stored()), "{v}");
    assert_eq!(
        (v["small"].clone(), v["f"].clone()),
        (json!(1234), json!(1.5))
    );
    assert_eq!(redactions.len(), 2);
    assert!(redactions.iter().all(|r| r.kind == KNOWN_KIND));
}

#[test]
fn go_and_php_json_escapes_of_a_stored_value_are_found() {
    let value = format!("a&b<c>/{}", hex::encode(random(8)));
    let san = knowing(&[value.as_bytes()]);
    let go = value
        .replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    let php = value.replace('/', "\\/");
    let both = go.replace('/', "\\/");
    for form in [go, php, both] {
        let text = format!("{{\"v\":\"{form}\"}}");
        let (out, _) = san.redact_str(&text);
        assert_eq!(out, format!("{{\"v\":\"{}\"}}", stored()), "{text}");
    }
}
