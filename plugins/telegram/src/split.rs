//! Splitting a long text into messages Telegram accepts: at most 4096 UTF-16 code
//! units each (Telegram counts UTF-16 units, so an emoji counts two), cut after a
//! paragraph break, else a line break, else a space, else anywhere between two
//! characters (never inside one, so never between the halves of a surrogate pair).
//!
//! A break counts only in the second half of a message's room, so no message is cut
//! tiny; the pieces put back together are exactly the text.

/// Telegram's limit for one message's text, in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 4096;

/// The length of `text` as Telegram counts it.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` cut into pieces of at most `max` UTF-16 units (`max` is raised to 2, one
/// character's most); empty text gives no piece.
pub fn split(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(2);
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let (room, floor) = room(rest, max);
        if room == rest.len() {
            break;
        }
        let window = &rest[..room];
        let cut = last_break_after(window, "\n\n", floor)
            .or_else(|| last_break_after(window, "\n", floor))
            .or_else(|| last_space_after(window, floor))
            .unwrap_or(room);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// The longest prefix of `text` within `max` units, as a byte length, and the byte
/// length from which a break counts (half of `max` units).
pub fn room(text: &str, max: usize) -> (usize, usize) {
    let (mut units, mut end, mut floor) = (0, 0, None);
    for (at, c) in text.char_indices() {
        let next = units + c.len_utf16();
        if next > max {
            break;
        }
        units = next;
        end = at + c.len_utf8();
        if floor.is_none() && units >= max / 2 {
            floor = Some(end);
        }
    }
    (end, floor.unwrap_or(end))
}

/// The byte length just past the last `separator` in `window`, if it is at least `floor`.
fn last_break_after(window: &str, separator: &str, floor: usize) -> Option<usize> {
    let cut = window.rfind(separator)? + separator.len();
    (cut >= floor).then_some(cut)
}

/// The byte length just past the last whitespace in `window`, if it is at least `floor`.
fn last_space_after(window: &str, floor: usize) -> Option<usize> {
    let (at, c) = window
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())?;
    let cut = at + c.len_utf8();
    (cut >= floor).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_piece_and_empty_none() {
        assert_eq!(split("hello", MAX_MESSAGE_UNITS), vec!["hello"]);
        assert!(split("", MAX_MESSAGE_UNITS).is_empty());
    }

    #[test]
    fn paragraphs_are_preferred_then_lines() {
        let para = format!(
            "{}\n\n{}\n{}",
            "a".repeat(3000),
            "b".repeat(500),
            "c".repeat(1000)
        );
        let pieces = split(&para, MAX_MESSAGE_UNITS);
        assert_eq!(pieces[0], format!("{}\n\n", "a".repeat(3000)));
        assert_eq!(pieces.concat(), para);
        let lines = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        assert_eq!(
            split(&lines, MAX_MESSAGE_UNITS)[0],
            format!("{}\n", "a".repeat(3000))
        );
    }

    #[test]
    fn emoji_count_two_units_and_are_never_halved() {
        // 3000 emoji: 3000 characters, 6000 UTF-16 units.
        let text = "😀".repeat(3000);
        let pieces = split(&text, MAX_MESSAGE_UNITS);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| utf16_len(p) <= MAX_MESSAGE_UNITS));
        assert_eq!(utf16_len(pieces[0]), 4096);
        assert_eq!(pieces.concat(), text);
    }

    /// Text made of words, spaces, line and paragraph breaks, and wide characters.
    fn texts() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            "[a-z]{1,40}",
            Just(" ".to_owned()),
            Just("\n".to_owned()),
            Just("\n\n".to_owned()),
            Just("😀".to_owned()),
            Just("é".to_owned()),
            Just("_*[".to_owned()),
            "[a-z]{300,900}",
        ];
        proptest::collection::vec(atom, 0..150).prop_map(|atoms| atoms.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn pieces_fit_rejoin_exactly_and_end_at_a_line_when_one_was_there(
            text in texts(),
            max in prop_oneof![Just(MAX_MESSAGE_UNITS), 2usize..600],
        ) {
            let pieces = split(&text, max);
            prop_assert_eq!(pieces.concat(), text.clone());
            let mut start = 0;
            for (i, piece) in pieces.iter().enumerate() {
                prop_assert!(!piece.is_empty());
                prop_assert!(utf16_len(piece) <= max.max(2), "{} units", utf16_len(piece));
                let last = i + 1 == pieces.len();
                if !last && !piece.ends_with('\n') {
                    // Then no line break lay in the second half of its room.
                    let (room, floor) = room(&text[start..], max.max(2));
                    let window = &text[start..start + room];
                    let line = window.rfind('\n').map(|at| at + 1);
                    prop_assert!(line.is_none_or(|cut| cut < floor), "a line break was there");
                }
                start += piece.len();
            }
        }
    }
}
