//! Search queries against a real database on disk.
//!
//! Rule: no query text is FTS5 syntax. Quotes, `*`, `NEAR(`, `AND`/`OR`/`NOT`,
//! `-`, `:`, `^`, `+`, unbalanced parentheses, combining marks, controls and any
//! other Unicode never make a search fail; words still find what they name.

mod common;

use carapace_plugin_memory::{Actor, EntryType, NewEntry, Search, Store};
use carapace_plugin_sdk::Origin;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

fn filled_store(dir: &std::path::Path) -> Store {
    let store = Store::open(dir, "fuzz").expect("open");
    let texts = [
        "NEAR the \"quoted\" coffee AND tea OR milk NOT sugar",
        "col:umn ^caret +plus -minus *star (paren",
        "café naïve résumé 東京 Ünïcödé",
        "preferences about morning coffee",
    ];
    for (i, text) in texts.iter().enumerate() {
        let actor = Actor::Session {
            id: format!("s{i}"),
            origin: Some(Origin {
                kind: "prompt".into(),
                trust: "owner".into(),
                ..Origin::default()
            }),
        };
        let new = NewEntry {
            tags: vec!["t\"ag".into(), "NEAR(".into()],
            ..NewEntry::new(EntryType::Fact, *text)
        };
        store.store(&actor, new).expect("stored");
    }
    store
}

/// Pieces that FTS5 would read as syntax, and text around them.
fn hostile_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("*".to_owned()),
        Just("NEAR(".to_owned()),
        Just("NEAR/3".to_owned()),
        Just("AND".to_owned()),
        Just("OR".to_owned()),
        Just("NOT".to_owned()),
        Just("-".to_owned()),
        Just(":".to_owned()),
        Just("^".to_owned()),
        Just("+".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("{content tags}:".to_owned()),
        Just("\u{301}".to_owned()),
        Just("\u{93e}".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{2028}".to_owned()),
        Just("\u{FEFF}".to_owned()),
        "[a-zA-Z0-9]{1,6}",
        any::<char>().prop_map(String::from),
        "\\PC{1,4}",
    ]
}

fn hostile_query() -> impl Strategy<Value = String> {
    prop::collection::vec((hostile_piece(), prop_oneof![Just(""), Just(" ")]), 0..12)
        .prop_map(|pieces| pieces.into_iter().map(|(p, sep)| p + sep).collect())
}

#[test]
fn no_query_makes_a_search_fail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = filled_store(dir.path());
    let mut runner = TestRunner::new(Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        hostile_query(),
        prop::collection::vec(hostile_query(), 0..3),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(query, tags, include_superseded)| {
            let search = Search {
                query: Some(query.clone()),
                tags,
                kind: None,
                include_superseded,
                limit: 100,
            };
            let found = store.search(&search);
            prop_assert!(found.is_ok(), "{query:?}: {found:?}");
            Ok(())
        })
        .expect("every query answers");
}

#[test]
fn words_among_syntax_still_find_their_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = filled_store(dir.path());
    let contents = |query: &str| -> Vec<String> {
        store
            .search(&Search::matching(query, 10))
            .expect("search")
            .into_iter()
            .map(|e| e.content)
            .collect()
    };
    assert_eq!(
        contents("\"coffee\" NEAR(tea* -milk"),
        ["NEAR the \"quoted\" coffee AND tea OR milk NOT sugar"]
    );
    assert_eq!(
        contents("col:umn) ^caret"),
        ["col:umn ^caret +plus -minus *star (paren"]
    );
    assert_eq!(
        contents("CAFE tokyo"),
        Vec::<String>::new(),
        "every word must appear"
    );
    assert_eq!(contents("cafe 東京"), ["café naïve résumé 東京 Ünïcödé"]);
    assert_eq!(
        contents("preference"),
        ["preferences about morning coffee"],
        "stemmed"
    );
    assert_eq!(
        contents("*** \"\" ()"),
        Vec::<String>::new(),
        "no word, no result"
    );
    assert_eq!(
        contents("NEAR").len(),
        4,
        "a plain word, here in every entry's tags"
    );
}

#[test]
fn hostile_queries_answer_through_the_plugin_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = common::start(dir.path());
    let owner = common::Who::owner("main", "s");
    common::store(
        &memory,
        &owner,
        "fact",
        "the spare key is under the blue pot",
    );
    for query in [
        "\"",
        "NEAR(key",
        "key OR",
        "-key",
        "key:",
        "^key",
        "(((",
        "key\"*",
        "\u{301}key",
    ] {
        let found = common::call(&memory, &owner, "memory_search", json!({"query": query}))
            .unwrap_or_else(|e| panic!("{query:?}: {e:?}"));
        assert!(found["entries"].is_array(), "{found}");
    }
}
