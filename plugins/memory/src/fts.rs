//! Turning what the agent searches for into a safe FTS5 expression.
//!
//! Each run of letters and digits becomes one quoted FTS5 string (`"…"`, a `"`
//! doubled, though a run never holds one), and the strings are joined by `AND`:
//! every word must appear (the porter stemmer lets "preferences" find
//! "prefer"). Everything else (quotes, `*`, `-`, `:`, `^`, `+`, parentheses,
//! punctuation) separates words and is never passed on, and `AND`, `OR`, `NOT`,
//! `NEAR` become plain quoted words. A word given twice counts once, and common
//! English words ("the", "what", "does"...) are left out when the query has
//! others, so that "what does the owner prefer" finds "prefers tea": they
//! would narrow nothing, and bm25 counts every entry holding each word.
//! AND rather than OR: the agent searches for something specific, and the
//! newest entries holding any one common word would crowd out the rest.
//!
//! Must never let a character of the query reach FTS5 as syntax.

/// Most words of a query that are searched for; the rest are ignored.
pub const MAX_QUERY_WORDS: usize = 16;

/// What a search's query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// No query, or only white space: the newest entries.
    Newest,
    /// Words to match: the FTS5 expression for them.
    Match(String),
    /// Text without a single letter or digit: nothing matches it.
    NothingSearchable,
}

impl Query {
    /// Reads an optional query text.
    pub fn parse(text: Option<&str>) -> Query {
        match text {
            None => Query::Newest,
            Some(text) if text.trim().is_empty() => Query::Newest,
            Some(text) => match fts_expression(text) {
                Some(expression) => Query::Match(expression),
                None => Query::NothingSearchable,
            },
        }
    }
}

/// Words left out of a query that has others (lower case).
const COMMON_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from",
    "had", "has", "have", "how", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our",
    "so", "that", "the", "their", "them", "there", "these", "they", "this", "to", "us", "was",
    "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your",
];

/// The FTS5 expression for `text`: its words quoted and ANDed; `None` when it has none.
pub fn fts_expression(text: &str) -> Option<String> {
    let mut distinct: Vec<(&str, String)> = Vec::new();
    for word in words(text) {
        let lower = word.to_lowercase();
        if !distinct.iter().any(|(_, seen)| *seen == lower) {
            distinct.push((word, lower));
        }
    }
    let telling = |(_, lower): &&(&str, String)| !COMMON_WORDS.contains(&lower.as_str());
    let keep_all = !distinct.iter().any(|w| telling(&w));
    let words: Vec<String> = distinct
        .iter()
        .filter(|w| keep_all || telling(w))
        .take(MAX_QUERY_WORDS)
        .map(|(word, _)| quote(word))
        .collect();
    (!words.is_empty()).then(|| words.join(" AND "))
}

/// `{tags} : "w1 w2"`: the words of `tag` as one phrase of the `tags` column (a
/// necessary condition for having the tag); `None` when it has no word.
pub(crate) fn tag_phrase(tag: &str) -> Option<String> {
    let words: Vec<&str> = words(tag).collect();
    (!words.is_empty()).then(|| format!("{{tags}} : {}", quote(&words.join(" "))))
}

/// The runs of letters and digits in `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
}

/// `word` as an FTS5 string: in double quotes, a `"` doubled.
fn quote(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_syntax_is_dropped() {
        assert_eq!(
            fts_expression("coffee NEAR(tea, 2) OR -milk* \"sugar"),
            Some(r#""coffee" AND "NEAR" AND "tea" AND "2" AND "milk" AND "sugar""#.into())
        );
        assert_eq!(
            fts_expression("col:umn ^start +x (b"),
            Some(r#""col" AND "umn" AND "start" AND "x" AND "b""#.into())
        );
        assert_eq!(
            fts_expression("café 東京"),
            Some(r#""café" AND "東京""#.into())
        );
        assert_eq!(fts_expression("\"*-:^()\" "), None);
        assert_eq!(
            tag_phrase("work-home \"x\""),
            Some(r#"{tags} : "work home x""#.into())
        );
        assert_eq!(tag_phrase("!!"), None);
    }

    #[test]
    fn repeated_and_common_words_are_left_out_when_others_remain() {
        assert_eq!(
            fts_expression("What does the owner PREFER? prefer the tea"),
            Some(r#""owner" AND "PREFER" AND "tea""#.into())
        );
        assert_eq!(
            fts_expression("the what"),
            Some(r#""the" AND "what""#.into())
        );
    }

    #[test]
    fn queries_without_words_list_nothing_and_blank_ones_the_newest() {
        assert_eq!(Query::parse(None), Query::Newest);
        assert_eq!(Query::parse(Some(" \n\t")), Query::Newest);
        assert_eq!(Query::parse(Some("?!*")), Query::NothingSearchable);
        let many: String = (0..40).map(|i| format!("w{i} ")).collect();
        let Query::Match(expression) = Query::parse(Some(&many)) else {
            panic!("words")
        };
        assert_eq!(expression.matches(" AND ").count() + 1, MAX_QUERY_WORDS);
    }
}
