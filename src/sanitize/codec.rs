//! Base64 both ways, for the sanitizer: encoding stored values (`known`),
//! decoding Basic credentials (`patterns`) and encoded runs (`encoded`).

/// The two base64 alphabets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `+` and `/` (RFC 4648 §4).
    Standard,
    /// `-` and `_` (RFC 4648 §5).
    UrlSafe,
}

impl Alphabet {
    fn table(self) -> &'static [u8; 64] {
        match self {
            Alphabet::Standard => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            }
            Alphabet::UrlSafe => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            }
        }
    }
}

/// Padded base64 of `data`.
pub fn base64_encode(data: &[u8], alphabet: Alphabet) -> String {
    let table = alphabet.table();
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(table[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 of either alphabet, padded or not; `None` if malformed or
/// if both alphabets' characters are mixed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let url = s.contains(['-', '_']);
    if (url && s.contains(['+', '/'])) || s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_and_both_alphabets() {
        assert_eq!(
            base64_encode(b"hunter22", Alphabet::Standard),
            "aHVudGVyMjI="
        );
        assert_eq!(base64_encode(b"\xfb\xff", Alphabet::UrlSafe), "-_8=");
        assert_eq!(base64_decode("-_8").as_deref(), Some(&b"\xfb\xff"[..]));
        assert_eq!(base64_decode("+/8=").as_deref(), Some(&b"\xfb\xff"[..]));
        assert!(base64_decode("+_8=").is_none(), "mixed alphabets");
        assert!(base64_decode("a").is_none());
    }
}
