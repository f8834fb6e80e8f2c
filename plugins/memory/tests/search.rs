//! What a search finds, through the library on a real database.
//!
//! Rule: results hold every word of the query (common English words aside), all
//! the tags asked for exactly, the type asked for, and superseded entries only
//! when asked; a query ranks the newest matches when very many match.

use carapace_plugin_memory::{Actor, Entry, EntryType, NewEntry, Search, Store, MAX_LIMIT, RANKED};

fn person() -> Actor {
    Actor::Person {
        name: "test".into(),
    }
}

fn add(store: &Store, kind: EntryType, content: &str, tags: &[&str]) -> Entry {
    let new = NewEntry {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..NewEntry::new(kind, content)
    };
    store.store(&person(), new).expect("stored")
}

fn ids(found: Vec<Entry>) -> Vec<i64> {
    found.into_iter().map(|e| e.id).collect()
}

#[test]
fn tags_are_matched_exactly_and_all_of_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), "main").expect("open");
    let joined = add(&store, EntryType::Fact, "garden plan", &["work-home"]).id;
    let both = add(&store, EntryType::Fact, "garden plan", &["work", "home"]).id;
    let work = add(&store, EntryType::Fact, "garden plan", &["work"]).id;
    let tagged = |tags: &[&str]| {
        let search = Search {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Search::matching("garden", 10)
        };
        let mut found = ids(store.search(&search).expect("search"));
        found.sort_unstable();
        let newest = Search {
            query: None,
            ..search
        };
        let mut listed = ids(store.search(&newest).expect("search"));
        listed.sort_unstable();
        assert_eq!(found, listed, "the same filter with and without a query");
        found
    };
    assert_eq!(tagged(&["work-home"]), [joined]);
    assert_eq!(tagged(&["work", "home"]), [both]);
    assert_eq!(tagged(&["work"]), [both, work]);
    assert_eq!(tagged(&[" work "]), [both, work], "compared trimmed");
    assert_eq!(tagged(&["!!"]), Vec::<i64>::new());
}

#[test]
fn type_superseded_and_limit_filter_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), "main").expect("open");
    let old = add(&store, EntryType::Preference, "likes green tea", &[]).id;
    let new = NewEntry {
        supersedes: Some(old),
        ..NewEntry::new(EntryType::Preference, "likes black tea")
    };
    let newer = store.store(&person(), new).expect("stored").id;
    let fact = add(&store, EntryType::Fact, "the tea shop closes at six", &[]).id;
    assert_eq!(
        ids(store.search(&Search::matching("tea", 10)).expect("search")).len(),
        2
    );
    let all = Search {
        include_superseded: true,
        ..Search::matching("tea", 10)
    };
    let mut found = ids(store.search(&all).expect("search"));
    found.sort_unstable();
    assert_eq!(found, [old, newer, fact]);
    let facts = Search {
        kind: Some(EntryType::Fact),
        ..Search::matching("tea", 10)
    };
    assert_eq!(ids(store.search(&facts).expect("search")), [fact]);
    assert_eq!(
        ids(store.search(&Search::newest(1)).expect("search")),
        [fact],
        "newest first"
    );
    assert_eq!(
        store.search(&Search::newest(0)).expect("search").len(),
        1,
        "at least one"
    );
    assert_eq!(
        ids(store
            .search(&Search::matching("what is the black tea?", 10))
            .expect("search")),
        [newer],
        "common words are left out"
    );
}

#[test]
fn many_matches_rank_the_newest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), "main").expect("open");
    // The oldest is the best match (the word three times, and short), but the
    // window holds the newest RANKED matches only.
    let best = add(&store, EntryType::Fact, "kiwi kiwi kiwi", &[]).id;
    let count = RANKED.max(3 * 20) + 5;
    let mut newest = 0;
    for i in 0..count {
        newest = add(
            &store,
            EntryType::Fact,
            &format!("kiwi with a long tail of words number {i}"),
            &[],
        )
        .id;
    }
    let found = ids(store.search(&Search::matching("kiwi", 20)).expect("search"));
    assert_eq!(found.len(), 20);
    assert!(!found.contains(&best), "outside the window");
    assert!(found.contains(&newest));
    // With few matches, the best is found wherever it is.
    let rare = add(&store, EntryType::Fact, "durian durian", &[]).id;
    for i in 0..5 {
        add(
            &store,
            EntryType::Fact,
            &format!("durian and many other words here {i}"),
            &[],
        );
    }
    let found = ids(store
        .search(&Search::matching("durian", 20))
        .expect("search"));
    assert_eq!(found[0], rare, "best ranked first");
    assert_eq!(
        store
            .search(&Search::matching("kiwi", 1000))
            .expect("search")
            .len(),
        MAX_LIMIT
    );
}

/// The index compaction the plugin runs when it opens a group merges a
/// fragmented index and changes no answer; an index already small is left alone.
#[test]
fn compacting_the_index_changes_no_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), "main").expect("open");
    // Without automatic merging every stored entry leaves its own segment.
    let raw = rusqlite::Connection::open(store.path()).expect("raw");
    raw.execute(
        "INSERT INTO entries_fts (entries_fts, rank) VALUES ('automerge', 0)",
        [],
    )
    .expect("automerge off");
    for i in 0..40 {
        let words = ["heron", "willow", "granite", "lantern"];
        let content = format!("entry {i}: {} and {}", words[i % 4], words[(i / 4) % 4]);
        add(&store, EntryType::Fact, &content, &[]);
    }
    let segments = |raw: &rusqlite::Connection| -> i64 {
        raw.query_row(
            "SELECT count(DISTINCT segid) FROM entries_fts_idx",
            [],
            |r| r.get(0),
        )
        .expect("segments")
    };
    assert!(segments(&raw) > carapace_plugin_memory::MAX_INDEX_SEGMENTS);
    let queries = [
        "heron",
        "willow granite",
        "lantern heron",
        "entry 17",
        "nothing",
    ];
    let before: Vec<Vec<i64>> = queries
        .iter()
        .map(|q| ids(store.search(&Search::matching(*q, 100)).expect("search")))
        .collect();
    assert!(store.compact_index().expect("compact"));
    assert_eq!(segments(&raw), 1);
    let after: Vec<Vec<i64>> = queries
        .iter()
        .map(|q| ids(store.search(&Search::matching(*q, 100)).expect("search")))
        .collect();
    assert_eq!(before, after);
    assert!(
        !store.compact_index().expect("compact again"),
        "nothing to do"
    );
}
