//! Turning what the agent searches for into a safe FTS5 expression.
//!
//! Each run of letters and digits becomes one quoted FTS5 string (`"…"`, a `"`
//! doubled, though a run never holds one), and the strings are joined by spaces,
//! which FTS5 reads as AND: every word must appear (the porter stemmer lets
//! "preferences" find "prefer"). Everything else (quotes, `*`, `-`, `:`, `^`,
//! `+`, parentheses, punctuation) separates words and is never passed on, and
//! `AND`, `OR`, `NOT`, `NEAR` become plain quoted words. AND rather than OR:
//! the agent searches for something specific, and OR over common words would
//! rank thousands of rows for each query.
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

/// The FTS5 expression for `text`: its words quoted and ANDed; `None` when it has none.
pub fn fts_expression(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_QUERY_WORDS)
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_syntax_is_dropped() {
        assert_eq!(
            fts_expression("coffee NEAR(tea, 2) OR -milk* \"sugar"),
            Some(r#""coffee" "NEAR" "tea" "2" "OR" "milk" "sugar""#.into())
        );
        assert_eq!(
            fts_expression("col:umn ^start +x (a"),
            Some(r#""col" "umn" "start" "x" "a""#.into())
        );
        assert_eq!(fts_expression("café 東京"), Some(r#""café" "東京""#.into()));
        assert_eq!(fts_expression("\"*-:^()\" "), None);
    }

    #[test]
    fn queries_without_words_list_nothing_and_blank_ones_the_newest() {
        assert_eq!(Query::parse(None), Query::Newest);
        assert_eq!(Query::parse(Some(" \n\t")), Query::Newest);
        assert_eq!(Query::parse(Some("?!*")), Query::NothingSearchable);
        let many = "w ".repeat(40);
        let Query::Match(expression) = Query::parse(Some(&many)) else {
            panic!("words")
        };
        assert_eq!(expression.matches("\"w\"").count(), MAX_QUERY_WORDS);
    }
}
