//! The memory store in the handler (library calls, no process hop), on disk.
//!
//! For each size (default 5,000 and 100,000 entries; give others as arguments)
//! and each spread of words, fills one group with entries of 5 to 40 words
//! drawn from a fixed vocabulary of 4,000 made-up words, 0 to 3 tags from 40,
//! four in five stored by the owner; then times `search` over a mix of 1 to 3
//! word queries drawn the same way, searches with a tag filter and newest-first
//! listings, stores, and the brief. The 1-3 word mix is timed twice: on the
//! index as grown (one segment per write, merged as FTS5 goes), and after
//! `Store::compact_index`, as the plugin leaves it when it opens the group.
//! Prints percentiles; it asserts nothing.
//!
//! Two spreads: `uniform` (every word as likely: each in about 0.5% of the
//! entries) and `zipf` (s = 1, as in real text: the commonest word is in about
//! nine entries in ten, and queries hold such words as often as text does).
//!
//! What a search costs, and why (measured here at 100k entries): bm25 needs
//! each word's document count for its IDF, which FTS5 counts by walking every
//! entry that holds the word (about 4 ms for a word in nine entries in ten);
//! ranking every match and joining each to its entry cost 50-100 ms for such a
//! word, hence the window of the newest matches (`RANKED`); joins to entries
//! scattered over the file halved with a 16 MiB page cache. Under `zipf`, what
//! remains is those counts: a query of two or three very common words pays
//! several. Common English words are left out of queries for that reason.
//!
//! `cargo bench -p carapace-plugin-memory --bench memory [-- 5000 100000]`
//! (or `bash bench/memory.sh`); `MEMORY_BENCH_DIR=DIR` keeps the databases in
//! `DIR/<spread>-<size>/` and reuses them on the next run. Targets at 100k:
//! search p50 <= 2 ms and p99 <= 10 ms, store p50 <= 1 ms, brief <= 20 ms.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carapace_plugin_memory::{
    Actor, BriefLimits, EntryType, NewEntry, Search, Sight, Store, MAX_OTHERS_CURRENT,
};
use carapace_plugin_sdk::Origin;

const VOCABULARY: usize = 4000;
const TAGS: usize = 40;
const QUERIES: usize = 3000;
const STORES: usize = 1000;
const BRIEFS: usize = 50;

/// splitmix64: a fixed, seeded sequence (no dependency, the same run each time).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How often each word of the vocabulary is drawn.
#[derive(Clone, Copy, Debug)]
enum Spread {
    /// Every word as likely.
    Uniform,
    /// The word of rank r with weight 1/r.
    Zipf,
}

/// Words made of 2 to 4 syllables, and a sampler over them.
struct Words {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    fn new(rng: &mut Rng, spread: Spread) -> Words {
        let consonants = [
            "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "tr",
        ];
        let vowels = ["a", "e", "i", "o", "u", "ai", "ou"];
        let mut words = std::collections::BTreeSet::new();
        while words.len() < VOCABULARY {
            let syllables = 2 + rng.below(3);
            let word: String = (0..syllables)
                .map(|_| {
                    format!(
                        "{}{}",
                        consonants[rng.below(consonants.len())],
                        vowels[rng.below(vowels.len())]
                    )
                })
                .collect();
            words.insert(word);
        }
        let mut words: Vec<String> = words.into_iter().collect();
        // Shuffle so that rank does not follow spelling.
        for i in (1..words.len()).rev() {
            words.swap(i, rng.below(i + 1));
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += match spread {
                    Spread::Uniform => 1.0,
                    Spread::Zipf => 1.0 / rank as f64,
                };
                total
            })
            .collect();
        Words { words, cumulative }
    }

    fn pick(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.unit() * total;
        let rank = self
            .cumulative
            .partition_point(|&c| c < x)
            .min(self.words.len() - 1);
        &self.words[rank]
    }

    fn sentence(&self, rng: &mut Rng, min: usize, max: usize) -> String {
        let n = min + rng.below(max - min + 1);
        (0..n).map(|_| self.pick(rng)).collect::<Vec<_>>().join(" ")
    }
}

/// Sessions whose entries are the others' (each from its own sender): at most
/// [`MAX_OTHERS_CURRENT`] entries in all, as the plugin keeps no more.
const OTHERS_SESSIONS: usize = 45;
const _: () = assert!((OTHERS_SESSIONS * 20) as i64 <= MAX_OTHERS_CURRENT);

fn origin(owner: bool, session: usize) -> Option<Origin> {
    Some(if owner {
        Origin {
            kind: "prompt".into(),
            trust: "owner".into(),
            ..Origin::default()
        }
    } else {
        Origin {
            kind: "message".into(),
            plugin: Some("mail".into()),
            sender: Some(format!("someone-{session}@example.org")),
            trust: "unknown".into(),
        }
    })
}

fn new_entry(rng: &mut Rng, words: &Words) -> NewEntry {
    let kinds = EntryType::BRIEF_ORDER;
    NewEntry {
        kind: kinds[rng.below(kinds.len())],
        content: words.sentence(rng, 5, 40),
        tags: (0..rng.below(4))
            .map(|_| format!("tag{}", rng.below(TAGS)))
            .collect(),
        supersedes: None,
    }
}

/// Stores `count` entries; sessions of 20 stores each (the cap); one session in
/// five untrusted, up to [`OTHERS_SESSIONS`] of them (the plugin's bound on
/// entries from others), the rest the owner's.
fn fill(store: &Store, rng: &mut Rng, words: &Words, count: usize, first_session: usize) {
    let mut actor = None;
    for i in 0..count {
        if i.is_multiple_of(20) {
            let session = first_session + i / 20;
            actor = Some(Actor::Session {
                id: format!("bench-{session}"),
                origin: origin(
                    !session.is_multiple_of(5) || session / 5 >= OTHERS_SESSIONS,
                    session,
                ),
            });
        }
        if let Some(actor) = &actor {
            store.store(actor, new_entry(rng, words)).expect("stored");
        }
    }
}

struct Timings(Vec<Duration>);

impl Timings {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(at).copied().unwrap_or_default()
    }

    fn line(&self, what: &str) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "{what:<34} n={:<5} p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
            self.0.len(),
            ms(self.percentile(0.5)),
            ms(self.percentile(0.9)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0)),
        )
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// `n` timings of `f`.
fn repeat(n: usize, mut f: impl FnMut() -> Duration) -> Timings {
    Timings((0..n).map(|_| f()).collect())
}

fn search_time(store: &Store, search: Search) -> Duration {
    time(|| store.search(&search).expect("search")).1
}

/// [`QUERIES`] searches of 1-3 words, by number of words.
fn mixed_searches(store: &Store, rng: &mut Rng, words: &Words, label: &str) {
    let mut mixed = Timings(Vec::new());
    let mut by_words = [
        Timings(Vec::new()),
        Timings(Vec::new()),
        Timings(Vec::new()),
    ];
    let mut results = 0usize;
    for _ in 0..QUERIES {
        let n = 1 + rng.below(3);
        let query = words.sentence(rng, n, n);
        let (found, took) = time(|| store.search(&Search::matching(query, 20)).expect("search"));
        results += found.len();
        mixed.0.push(took);
        by_words[n - 1].0.push(took);
    }
    println!(
        "{}  (mean {:.1} results)",
        mixed.line(&format!("search, 1-3 words, {label}")),
        results as f64 / QUERIES as f64
    );
    for (n, timings) in by_words.iter().enumerate() {
        println!("{}", timings.line(&format!("  of which {} word(s)", n + 1)));
    }
}

fn bench(size: usize, spread: Spread, dir: &Path) {
    let mut rng = Rng(0x5EED_0000 + size as u64);
    let words = Words::new(&mut rng, spread);
    let reused = dir.join("bench.sqlite").exists();
    let store = Store::open(dir, "bench").expect("open");
    let ((), filled) = time(|| {
        if !reused {
            fill(&store, &mut rng, &words, size, 0)
        }
    });
    let bytes = std::fs::metadata(store.path())
        .map(|m| m.len())
        .unwrap_or(0);
    let filled = if reused {
        "reused".to_owned()
    } else {
        format!("filled in {:.1} s", filled.as_secs_f64())
    };
    println!(
        "== {size} entries, {spread:?} words: {filled}, database {:.1} MB",
        bytes as f64 / 1e6
    );
    // Reopen, as the plugin does at start: checked and migrated, cold statement cache.
    drop(store);
    let (store, opened) = time(|| Store::open(dir, "bench").expect("reopen"));
    println!(
        "open (quick_check, migrate)        {:.1} ms",
        opened.as_secs_f64() * 1e3
    );

    // As grown one entry at a time (many index segments), then as the plugin
    // leaves it when it opens the group (compacted).
    mixed_searches(&store, &mut rng, &words, "as grown");
    let (compacted, took) = time(|| store.compact_index().expect("compact"));
    println!(
        "compact the index (at the plugin's open) {:.0} ms{}",
        took.as_secs_f64() * 1e3,
        if compacted { "" } else { " (nothing to do)" }
    );
    mixed_searches(&store, &mut rng, &words, "compacted");
    let common = words.words[0].clone();
    let worst = repeat(100, || {
        search_time(&store, Search::matching(common.clone(), 20))
    });
    println!("{}", worst.line("search, the most common word"));
    let tagged = repeat(500, || {
        let tag = format!("tag{}", rng.below(TAGS));
        let query = words.sentence(&mut rng, 1, 1);
        search_time(
            &store,
            Search {
                tags: vec![tag],
                ..Search::matching(query, 20)
            },
        )
    });
    println!("{}", tagged.line("search, 1 word + 1 tag"));
    let newest = repeat(500, || {
        let tag = format!("tag{}", rng.below(TAGS));
        search_time(
            &store,
            Search {
                tags: vec![tag],
                ..Search::newest(20)
            },
        )
    });
    println!("{}", newest.line("newest 20 with 1 tag"));
    let briefs = repeat(BRIEFS, || {
        time(|| {
            store
                .brief(BriefLimits::default(), Sight::All)
                .expect("brief")
        })
        .1
    });
    println!("{}", briefs.line("brief"));

    let mut stores = Timings(Vec::new());
    let run = store.current_count().expect("count");
    for i in 0..STORES {
        let actor = Actor::Session {
            id: format!("store-{run}-{}", i / 20),
            origin: origin(true, 0),
        };
        let new = new_entry(&mut rng, &words);
        stores
            .0
            .push(time(|| store.store(&actor, new).expect("stored")).1);
    }
    println!("{}", stores.line("store"));
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![5_000, 100_000]
    } else {
        sizes
    };
    // MEMORY_BENCH_DIR keeps each database in <dir>/<spread>-<size>/ and reuses it
    // (for EXPLAIN QUERY PLAN and reruns); otherwise a temp dir under target/.
    let keep = std::env::var_os("MEMORY_BENCH_DIR").map(PathBuf::from);
    for size in sizes {
        for spread in [Spread::Uniform, Spread::Zipf] {
            let temp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a dir on disk");
            let dir = match &keep {
                Some(root) => root.join(format!("{spread:?}-{size}").to_lowercase()),
                None => temp.path().to_owned(),
            };
            std::fs::create_dir_all(&dir).expect("bench dir");
            bench(size, spread, &dir);
        }
    }
}
