//! Databases the plugin must refuse, and leave exactly as they were.
//!
//! Rule: a database that is newer than this code, not a database, corrupt,
//! unreadable or behind a link makes `initialize` fail with `CONFIG_ERROR`
//! whose message names the file (for `status` and `doctor`), and the file's
//! bytes are the same afterwards: never deleted, renamed, migrated or repaired.

mod common;

use std::path::Path;

use carapace_plugin_memory::MemoryHandler;
use carapace_plugin_memory::{Actor, EntryType, NewEntry, Store, SCHEMA_VERSION};
use carapace_plugin_sdk::testing::Harness;
use common::init_params;
use common::process::Process;
use serde_json::json;

/// A database of group `group` with `entries` entries, closed (its log checkpointed).
fn database(dir: &Path, group: &str, entries: usize) -> std::path::PathBuf {
    let store = Store::open(dir, group).expect("open");
    let person = Actor::Person {
        name: "test".into(),
    };
    for i in 0..entries {
        let new = NewEntry::new(
            EntryType::Fact,
            format!("fact {i}: {}", "lorem ipsum ".repeat(10)),
        );
        store.store(&person, new).expect("stored");
    }
    let path = store.path().to_owned();
    drop(store);
    assert!(
        !dir.join(format!("{group}.sqlite-wal")).exists(),
        "closed cleanly"
    );
    path
}

/// Initializes the plugin in-process on `dir`; the error's category and message.
fn refused(dir: &Path) -> (String, String) {
    let harness = Harness::start(MemoryHandler::default());
    let error = harness
        .initialize_with(init_params(dir, json!({})))
        .expect_err("initialize must fail");
    (
        error.data_str("category").unwrap_or("").to_owned(),
        error.message,
    )
}

#[test]
fn a_newer_schema_is_refused_by_the_binary_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path(), "main", 3);
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 7)
        .expect("set version");
    drop(conn);
    let before = std::fs::read(&path).expect("read");

    let (_process, answer) = Process::initialized(dir.path(), json!({}));
    let error = &answer["error"];
    assert_eq!(error["data"]["category"], "CONFIG_ERROR", "{answer}");
    let message = error["message"].as_str().expect("a message");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("version {}", SCHEMA_VERSION + 7)),
        "{message}"
    );
    assert!(
        message.contains(&format!("({SCHEMA_VERSION})")),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "the file is unchanged"
    );
}

#[test]
fn garbage_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A good group beside it: one bad file stops the plugin all the same.
    database(dir.path(), "good", 1);
    let path = dir.path().join("main.sqlite");
    let garbage: Vec<u8> = (0..16_384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).expect("write");

    let (category, message) = refused(dir.path());
    assert_eq!(category, "CONFIG_ERROR");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("corrupt") || message.contains("not a database"),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).expect("read"), garbage);
}

#[test]
fn an_overwritten_page_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path(), "main", 300);
    let mut bytes = std::fs::read(&path).expect("read");
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    assert!(bytes.len() > 8 * page_size, "several pages");
    // Page 2 is the root of `entries`, the first table created.
    bytes[page_size..2 * page_size].fill(0xA5);
    std::fs::write(&path, &bytes).expect("write");

    let (category, message) = refused(dir.path());
    assert_eq!(category, "CONFIG_ERROR");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bytes,
        "not repaired, not rewritten"
    );
    assert!(dir.path().join("main.sqlite").exists());
}

#[test]
fn an_unreadable_database_or_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("main.sqlite");
    std::fs::create_dir(&path).expect("a directory where the file should be");
    let (category, message) = refused(dir.path());
    assert_eq!(category, "CONFIG_ERROR");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(path.is_dir());

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let (category, message) = refused(&file);
    assert_eq!(category, "CONFIG_ERROR");
    assert!(message.contains(&file.display().to_string()), "{message}");
}

#[test]
fn a_link_in_place_of_a_database_is_not_followed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let target = database(elsewhere.path(), "victim", 2);
    let before = std::fs::read(&target).expect("read");
    let link = dir.path().join("main.sqlite");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    let (category, message) = refused(dir.path());
    assert_eq!(category, "CONFIG_ERROR");
    assert!(message.contains(&link.display().to_string()), "{message}");
    assert_eq!(std::fs::read(&target).expect("read"), before);
}

#[test]
fn another_programs_database_is_refused_and_left_untouched() {
    for (version, name) in [(0, "zero.sqlite"), (3, "three.sqlite")] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT);")
            .expect("a table");
        conn.pragma_update(None, "user_version", version)
            .expect("version");
        drop(conn);
        let before = std::fs::read(&path).expect("read");

        let (category, message) = refused(dir.path());
        assert_eq!(category, "CONFIG_ERROR");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a memory database"), "{message}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "journal mode and all unchanged"
        );
    }
}

#[test]
fn a_fifo_in_place_of_a_database_does_not_hang_initialize() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("main.sqlite");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let (category, message) = refused(dir.path());
    assert_eq!(category, "CONFIG_ERROR");
    assert!(message.contains("not a regular file"), "{message}");
}

#[test]
fn wal_and_shm_files_and_other_names_are_not_groups() {
    let dir = tempfile::tempdir().expect("temp dir");
    database(dir.path(), "main", 1);
    // Empty logs as a crash may leave them: SQLite's to read, not groups of their own.
    for log in ["main.sqlite-wal", "main.sqlite-shm"] {
        std::fs::write(dir.path().join(log), b"").expect("write");
    }
    for other in ["notes.txt", "bad name.sqlite", "x.sqlite.bak"] {
        std::fs::write(dir.path().join(other), b"not a database").expect("write");
    }
    let harness = Harness::start(MemoryHandler::default());
    let answer = harness.initialize_with(init_params(dir.path(), json!({})));
    assert_eq!(answer, Ok(json!({})));
    assert_eq!(
        std::fs::read(dir.path().join("bad name.sqlite")).expect("read"),
        b"not a database"
    );
}

/// A data dir reached through a linked directory (`/home -> /var/home`, a home on
/// another disk) still works: SQLite's no-follow open refuses a link anywhere in
/// the path, so the handler resolves the directory once at `initialize`.
#[test]
fn a_data_dir_under_a_linked_directory_works() {
    let real = tempfile::tempdir().expect("temp dir");
    let links = tempfile::tempdir().expect("temp dir");
    let linked = links.path().join("home");
    std::os::unix::fs::symlink(real.path(), &linked).expect("link");
    let data_dir = linked.join("memory");
    let memory = common::start(&data_dir);
    let stored = common::store(
        &memory,
        &common::Who::owner("main", "s1"),
        "fact",
        "Still here",
    );
    assert_eq!(stored["trust"], "owner");
    assert!(real.path().join("memory/main.sqlite").is_file());
}

/// The file is the plugin's uid's to write, and `carapace memory` (the person,
/// perhaps root) opens it: a trigger, view or index planted in it, or one of
/// ours with its SQL changed, must never run in the reader. Every schema object
/// is compared with what the migrations make, SQL text and all, before anything
/// is read. Seen failing without `schema::check_objects` (the file opened with
/// the trigger in place).
#[test]
fn a_planted_trigger_view_or_index_is_refused_before_anything_runs() {
    let plants = [
        ("trigger `planted`", "CREATE TRIGGER planted AFTER DELETE ON entries BEGIN DELETE FROM entries; END;"),
        ("view `everything`", "CREATE VIEW everything AS SELECT * FROM entries"),
        ("index `by_content`", "CREATE INDEX by_content ON entries (content)"),
        (
            "trigger `entries_fts_insert`",
            "DROP TRIGGER entries_fts_insert;
             CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
                 INSERT INTO entries_fts (rowid, content, tags) VALUES (new.id, new.content, new.tags);
                 DELETE FROM entries WHERE id < new.id;
             END;",
        ),
        ("table `extra`", "CREATE TABLE extra (x)"),
    ];
    for (named, sql) in plants {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = database(dir.path(), "main", 3);
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(sql).expect("planted");
        drop(conn);
        let before = std::fs::read(&path).expect("read");

        let error = Store::open_existing(dir.path(), "main")
            .err()
            .unwrap_or_else(|| panic!("{named}: opened"));
        let message = error.to_string();
        assert!(message.contains(named), "{named}: {message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        let (category, message) = refused(dir.path());
        assert_eq!(category, "CONFIG_ERROR", "{named}: {message}");
        assert!(message.contains(named), "{message}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "{named}: untouched"
        );
    }
}

/// What the migrations make is accepted as it is: a database made at every
/// earlier version, migrated, then opened again.
#[test]
fn a_database_migrated_from_version_one_has_exactly_the_expected_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path(), "main", 2);
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch("DROP TABLE sessions_shown_untrusted; PRAGMA user_version = 1;")
        .expect("back to v1");
    drop(conn);
    drop(Store::open(dir.path(), "main").expect("migrated"));
    let store = Store::open_existing(dir.path(), "main").expect("opens again");
    assert_eq!(store.current_count().expect("count"), 2);
}
