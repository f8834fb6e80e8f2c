//! What a session may read of its group's memory (`actor::Sight`): the owner's
//! sessions see everything; a session someone else started (a contact, a
//! stranger's mail, an origin nobody reported), whose answer goes back to that
//! someone, sees only the owner's behavioural entries and what was stored from
//! its own channel and sender. Never the owner's facts and context, never what
//! other people said, and it is not told that what it cannot see exists.
//!
//! Seen failing with `Actor::sight` answering `Sight::All` for everyone: the
//! stranger's brief and search held the owner's address and Mallory's entry.

mod common;

use common::{brief_as, call, code_and_field, start, store, Who};
use serde_json::{json, Value};

/// A session of `group` started by `sender`'s message through `plugin`, trusted as `trust`.
fn via(plugin: &str, sender: &str, trust: &str, session: &str) -> Who {
    Who::with_origin(
        "main",
        session,
        Some(json!({"kind": "message", "plugin": plugin, "sender": sender, "trust": trust})),
    )
}

fn contents(found: &Value) -> Vec<String> {
    found["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["content"].as_str().expect("content").to_owned())
        .collect()
}

fn markdown(answer: &Value) -> String {
    answer["markdown"].as_str().expect("markdown").to_owned()
}

/// The owner's four kinds of entry, and one from each of two strangers.
struct Filled {
    address: i64,
    rule: i64,
    mallory: i64,
}

fn fill(memory: &carapace_plugin_sdk::testing::Harness) -> Filled {
    let owner = Who::owner("main", "s-owner");
    let address = store(memory, &owner, "fact", "Home address: 12 Rue Lepic, Paris");
    store(
        memory,
        &owner,
        "context",
        "Negotiating salary with Acme this week",
    );
    let rule = store(
        memory,
        &owner,
        "instruction",
        "Never share my address with anyone",
    );
    store(memory, &owner, "preference", "Replies short and polite");
    store(
        memory,
        &via("mail", "eve@example.org", "unknown", "s-eve-1"),
        "fact",
        "Eve's invoice 4411 is due Friday",
    );
    let mallory = store(
        memory,
        &via("mail", "mallory@example.net", "unknown", "s-mallory"),
        "context",
        "Mallory's bank: account 0042 at Bank Zed",
    );
    Filled {
        address: address["id"].as_i64().expect("id"),
        rule: rule["id"].as_i64().expect("id"),
        mallory: mallory["id"].as_i64().expect("id"),
    }
}

#[test]
fn a_strangers_session_sees_the_owners_rules_and_its_own_words_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = start(dir.path());
    fill(&memory);
    let eve = via("mail", "eve@example.org", "unknown", "s-eve-2");

    let brief = brief_as(&memory, &eve);
    let text = markdown(&brief);
    assert!(text.contains("Never share my address"), "{text}");
    assert!(text.contains("Replies short and polite"), "{text}");
    assert!(text.contains("invoice 4411"), "her own entry: {text}");
    for hidden in ["Rue Lepic", "salary", "Bank Zed", "mallory"] {
        assert!(!text.contains(hidden), "{hidden} shown to eve: {text}");
    }
    assert_eq!(brief["entry_count"], 3, "counts only what it sees: {brief}");

    let newest = call(&memory, &eve, "memory_search", json!({})).expect("search");
    let mut seen = contents(&newest);
    seen.sort();
    assert_eq!(
        seen,
        [
            "Eve's invoice 4411 is due Friday",
            "Never share my address with anyone",
            "Replies short and polite",
        ]
    );
    for query in [
        "Rue Lepic",
        "address Paris",
        "salary Acme",
        "Bank Zed account",
    ] {
        let found = call(&memory, &eve, "memory_search", json!({"query": query})).expect("search");
        assert!(
            contents(&found)
                .iter()
                .all(|c| !c.contains("Lepic") && !c.contains("Acme") && !c.contains("Zed")),
            "{query}: {found}"
        );
    }
    let facts = call(
        &memory,
        &eve,
        "memory_search",
        json!({"type": "fact", "include_superseded": true, "limit": 100}),
    )
    .expect("search");
    assert_eq!(contents(&facts), ["Eve's invoice 4411 is due Friday"]);
}

#[test]
fn what_a_session_cannot_see_it_cannot_change_nor_learn_exists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = start(dir.path());
    let filled = fill(&memory);
    let eve = via("mail", "eve@example.org", "unknown", "s-eve-2");
    let missing = 999_999;
    let no_entry = |id: i64, field: &str, error: &carapace_plugin_sdk::JsonRpcError| {
        assert_eq!(
            code_and_field(error),
            (Some("VALIDATION_FAILED"), Some(field))
        );
        assert!(
            error.message.contains(&format!("there is no entry #{id}")),
            "{error:?}"
        );
    };
    let absent = call(&memory, &eve, "memory_delete", json!({"id": missing})).expect_err("no");
    no_entry(missing, "id", &absent);
    for id in [filled.mallory, filled.address] {
        let error = call(&memory, &eve, "memory_delete", json!({"id": id})).expect_err("hidden");
        no_entry(id, "id", &error);
        let error = call(
            &memory,
            &eve,
            "memory_store",
            json!({"type": "fact", "content": "replaced", "supersedes": id}),
        )
        .expect_err("hidden");
        no_entry(id, "supersedes", &error);
        let error = call(
            &memory,
            &eve,
            "memory_promote",
            json!({"id": id, "content": "Mallory's bank: account 0042 at Bank Zed"}),
        )
        .expect_err("hidden");
        no_entry(id, "id", &error);
    }
    // The owner's rule is visible, and still not hers to change.
    let error =
        call(&memory, &eve, "memory_delete", json!({"id": filled.rule})).expect_err("owner's");
    assert_eq!(
        code_and_field(&error),
        (Some("VALIDATION_FAILED"), Some("id"))
    );
    assert!(error.message.contains("is the owner's"), "{error:?}");

    // Nothing changed: the owner still sees all six.
    let owner = Who::owner("main", "s-owner-2");
    let all = call(&memory, &owner, "memory_search", json!({"limit": 100})).expect("search");
    assert_eq!(contents(&all).len(), 6, "{all}");
}

#[test]
fn contacts_and_unreported_origins_are_held_to_the_same_sight() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = start(dir.path());
    fill(&memory);
    let bob = via("telegram", "4242", "contact", "s-bob");
    store(&memory, &bob, "fact", "Bob's birthday is 3 May");
    let text = markdown(&brief_as(&memory, &bob));
    assert!(text.contains("Bob's birthday") && text.contains("Never share my address"));
    for hidden in ["Rue Lepic", "salary", "invoice 4411", "Bank Zed"] {
        assert!(
            !text.contains(hidden),
            "{hidden} shown to a contact: {text}"
        );
    }
    // Bob on another channel is another sender.
    let bob_by_mail = via("mail", "4242", "contact", "s-bob-mail");
    let found = call(
        &memory,
        &bob_by_mail,
        "memory_search",
        json!({"query": "birthday"}),
    )
    .expect("search");
    assert!(contents(&found).is_empty(), "{found}");

    for who in [
        Who::with_origin("main", "s-none", None),
        Who::with_origin(
            "main",
            "s-open",
            Some(json!({"kind": "open", "plugin": null, "sender": null, "trust": "unknown"})),
        ),
    ] {
        let newest = call(&memory, &who, "memory_search", json!({"limit": 100})).expect("search");
        let mut seen = contents(&newest);
        seen.sort();
        assert_eq!(
            seen,
            [
                "Never share my address with anyone",
                "Replies short and polite"
            ],
            "{who:?}"
        );
        let text = markdown(&brief_as(&memory, &who));
        assert!(!text.contains("From others"), "{who:?}: {text}");
    }
}

#[test]
fn the_owners_sessions_see_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = start(dir.path());
    fill(&memory);
    let owner = Who::owner("main", "s-owner-2");
    let brief = brief_as(&memory, &owner);
    let text = markdown(&brief);
    for shown in [
        "Rue Lepic",
        "salary",
        "Never share",
        "invoice 4411",
        "Bank Zed",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    assert_eq!(brief["entry_count"], 6);
    let owner_by_chat = via("telegram", "1", "owner", "s-owner-chat");
    let found = call(
        &memory,
        &owner_by_chat,
        "memory_search",
        json!({"query": "Rue Lepic"}),
    )
    .expect("search");
    assert_eq!(contents(&found), ["Home address: 12 Rue Lepic, Paris"]);
}
