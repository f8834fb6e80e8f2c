//! One remembered entry: what was stored, and its provenance.
//!
//! Must never take provenance (`session`, `group`, `origin`, `trust`, times) from
//! what the agent sends: a [`NewEntry`] has no such fields.

use std::fmt;
use std::str::FromStr;

use carapace_plugin_sdk::Origin;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Longest `content`, in characters (not bytes).
pub const MAX_CONTENT_CHARS: usize = 2000;
/// Most tags on one entry.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;

/// What kind of thing an entry remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// How the person likes things done.
    Preference,
    /// Something true about the person or their world.
    Fact,
    /// Something the agent should do (or not do).
    Instruction,
    /// Background for ongoing work.
    Context,
    /// A fix to something the agent got wrong.
    Correction,
}

impl EntryType {
    /// Every type, in the brief's order: behavioural ones first.
    pub const BRIEF_ORDER: [EntryType; 5] = [
        EntryType::Instruction,
        EntryType::Correction,
        EntryType::Preference,
        EntryType::Fact,
        EntryType::Context,
    ];

    /// The types that say how the agent is to behave (rather than what is so).
    pub const BEHAVIOURAL: [EntryType; 3] = [
        EntryType::Instruction,
        EntryType::Correction,
        EntryType::Preference,
    ];

    /// Whether this type says how the agent is to behave ([`EntryType::BEHAVIOURAL`]).
    pub fn is_behavioural(self) -> bool {
        EntryType::BEHAVIOURAL.contains(&self)
    }

    /// The name stored and shown, e.g. `instruction`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Preference => "preference",
            EntryType::Fact => "fact",
            EntryType::Instruction => "instruction",
            EntryType::Context => "context",
            EntryType::Correction => "correction",
        }
    }
}

impl fmt::Display for EntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryType {
    type Err = StoreError;

    fn from_str(name: &str) -> Result<EntryType, StoreError> {
        EntryType::BRIEF_ORDER
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| StoreError::invalid("type", format!("`{name}` is not an entry type")))
    }
}

/// Whose word an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Stored by a session the owner started (origin trust `owner`), or promoted by the person.
    Owner,
    /// Anything else: data from others, never an instruction.
    Untrusted,
}

impl Trust {
    /// `owner` only when the session's origin says exactly that; a missing origin is untrusted.
    pub fn of_origin(origin: Option<&Origin>) -> Trust {
        match origin {
            Some(origin) if origin.is_owner() => Trust::Owner,
            _ => Trust::Untrusted,
        }
    }

    /// The name stored and shown: `owner` or `untrusted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Owner => "owner",
            Trust::Untrusted => "untrusted",
        }
    }
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored entry with its provenance, as tools answer and the host CLI shows it
/// (a field that is `None` is left out: fewer bytes on every answer, and fewer
/// tokens for the model).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The entry's id in its group's database (never reused).
    pub id: i64,
    /// What kind of thing it remembers.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// The text remembered.
    pub content: String,
    /// Its tags, deduplicated, in the order given.
    pub tags: Vec<String>,
    /// The entry this one replaced, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<i64>,
    /// `owner` or `untrusted`, from the storing session's origin (or a promotion).
    pub trust: Trust,
    /// The session that stored it.
    pub session: String,
    /// The group it belongs to.
    pub group: String,
    /// When it was stored (RFC 3339, UTC).
    pub created_at: String,
    /// What started the storing session, as the core reported it (`None`: not reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The entry that replaced this one, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<i64>,
    /// When it was replaced (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<String>,
    /// When the person promoted it to `owner`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
    /// Who promoted it (the session whose approved call did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<String>,
}

impl Entry {
    /// Whether it is current (not superseded).
    pub fn is_current(&self) -> bool {
        self.superseded_at.is_none()
    }
}

/// What a caller asks to store; everything else about the entry comes from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// What kind of thing it remembers.
    pub kind: EntryType,
    /// The text (1 to [`MAX_CONTENT_CHARS`] characters, not only white space).
    pub content: String,
    /// Up to [`MAX_TAGS`] tags of 1 to [`MAX_TAG_CHARS`] characters (trimmed, deduplicated).
    pub tags: Vec<String>,
    /// The id of a current entry of the same group this one replaces.
    pub supersedes: Option<i64>,
}

impl NewEntry {
    /// A new entry without tags that replaces nothing.
    pub fn new(kind: EntryType, content: impl Into<String>) -> NewEntry {
        NewEntry {
            kind,
            content: content.into(),
            tags: Vec::new(),
            supersedes: None,
        }
    }

    /// Checks the bounds and returns the entry with its tags trimmed and deduplicated.
    pub(crate) fn checked(mut self) -> Result<NewEntry, StoreError> {
        if self.content.trim().is_empty() {
            return Err(StoreError::invalid(
                "content",
                "content is empty: give the text to remember",
            ));
        }
        if self.content.chars().count() > MAX_CONTENT_CHARS {
            return Err(StoreError::invalid(
                "content",
                format!("content is over {MAX_CONTENT_CHARS} characters"),
            ));
        }
        self.tags = checked_tags(self.tags)?;
        Ok(self)
    }
}

/// Tags trimmed, deduplicated (first occurrence kept) and bounded.
pub(crate) fn checked_tags(tags: Vec<String>) -> Result<Vec<String>, StoreError> {
    let mut kept: Vec<String> = Vec::with_capacity(tags.len().min(MAX_TAGS));
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(StoreError::invalid("tags", "a tag is empty"));
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(StoreError::invalid(
                "tags",
                format!("a tag is over {MAX_TAG_CHARS} characters"),
            ));
        }
        if !kept.iter().any(|k| k == tag) {
            kept.push(tag.to_owned());
        }
    }
    if kept.len() > MAX_TAGS {
        return Err(StoreError::invalid(
            "tags",
            format!("more than {MAX_TAGS} tags"),
        ));
    }
    Ok(kept)
}

impl ToSql for EntryType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for EntryType {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<EntryType> {
        value
            .as_str()?
            .parse()
            .map_err(|e: StoreError| FromSqlError::Other(Box::new(e)))
    }
}

impl ToSql for Trust {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Trust {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Trust> {
        match value.as_str()? {
            "owner" => Ok(Trust::Owner),
            "untrusted" => Ok(Trust::Untrusted),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(trust: &str) -> Origin {
        Origin {
            kind: "message".into(),
            plugin: Some("mail".into()),
            sender: Some("x@example.org".into()),
            trust: trust.into(),
        }
    }

    #[test]
    fn only_an_owner_origin_is_owner() {
        assert_eq!(Trust::of_origin(Some(&origin("owner"))), Trust::Owner);
        for other in ["contact", "unknown", "Owner", "owner ", ""] {
            assert_eq!(Trust::of_origin(Some(&origin(other))), Trust::Untrusted);
        }
        assert_eq!(Trust::of_origin(None), Trust::Untrusted);
    }

    #[test]
    fn content_and_tags_are_bounded_in_characters() {
        let ok = NewEntry {
            tags: vec![" a ".into(), "b".into(), "a".into(), "é".repeat(50)],
            ..NewEntry::new(EntryType::Fact, "é".repeat(MAX_CONTENT_CHARS))
        };
        let checked = ok.checked().expect("within bounds");
        assert_eq!(
            checked.tags,
            vec!["a".to_owned(), "b".into(), "é".repeat(50)]
        );
        let field = |e: NewEntry| match e.checked() {
            Err(StoreError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(NewEntry::new(EntryType::Fact, " \n\t ")), "content");
        assert_eq!(
            field(NewEntry::new(
                EntryType::Fact,
                "é".repeat(MAX_CONTENT_CHARS + 1)
            )),
            "content"
        );
        let many = NewEntry {
            tags: (0..11).map(|i| i.to_string()).collect(),
            ..NewEntry::new(EntryType::Fact, "x")
        };
        assert_eq!(field(many), "tags");
        let long = NewEntry {
            tags: vec!["x".repeat(51)],
            ..NewEntry::new(EntryType::Fact, "x")
        };
        assert_eq!(field(long), "tags");
        // Eleven given, ten after deduplication: accepted.
        let dup = NewEntry {
            tags: (0..10).map(|i| i.to_string()).chain(["0".into()]).collect(),
            ..NewEntry::new(EntryType::Fact, "x")
        };
        assert_eq!(dup.checked().expect("ten distinct").tags.len(), 10);
    }
}
