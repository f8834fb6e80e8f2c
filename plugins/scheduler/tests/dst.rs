//! The schedule computation on Europe/Berlin's DST days, and fuzz-ish input.
//!
//! Rule (docs/scheduler.md): every slot is a UTC instant; a fixed local time
//! that does not exist (spring forward) runs at the first valid minute after
//! the gap, one that happens twice (fall back) runs once; interval patterns
//! keep their pace in real time. Any cron text and zone name gives a timing or
//! an `Invalid` naming `cron`, `at` or `tz`, never a panic.

use carapace_plugin_scheduler::{first_slot, Timing};
use jiff::Timestamp;
use proptest::prelude::*;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn slots(cron: &str, from: &str, until: &str) -> Vec<String> {
    let timing = Timing::parse(Some(cron), None, "Europe/Berlin").expect("timing");
    timing
        .slots(ts(from), ts(until), 1000)
        .into_iter()
        .map(|slot| timing.local(slot))
        .collect()
}

#[test]
fn spring_forward_in_berlin() {
    // 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00Z).
    let (from, until) = ("2026-03-28T22:00:00Z", "2026-03-29T03:00:00Z");
    let table: &[(&str, &[&str])] = &[
        // A fixed time in the gap runs at the first valid minute after it, once.
        ("30 2 * * *", &["2026-03-29T03:00:00+02:00"]),
        ("0 2 * * *", &["2026-03-29T03:00:00+02:00"]),
        // Before and after the gap: untouched.
        ("30 1 * * *", &["2026-03-29T01:30:00+01:00"]),
        ("30 3 * * *", &["2026-03-29T03:30:00+02:00"]),
        // Hourly keeps its real-time pace: there is no 02:00.
        (
            "0 * * * *",
            &[
                "2026-03-29T00:00:00+01:00",
                "2026-03-29T01:00:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T04:00:00+02:00",
                "2026-03-29T05:00:00+02:00",
            ],
        ),
    ];
    for (cron, expected) in table {
        assert_eq!(slots(cron, from, until), *expected, "{cron}");
    }
    // The slot's instant: 03:00 CEST is 01:00Z.
    let timing = Timing::parse(Some("30 2 * * *"), None, "Europe/Berlin").expect("timing");
    assert_eq!(
        timing.next_after(ts(from)),
        Some(ts("2026-03-29T01:00:00Z"))
    );
}

#[test]
fn fall_back_in_berlin() {
    // 25 October 2026: 03:00 CEST falls back to 02:00 CET (01:00Z); 02:00-02:59 happen twice.
    let (from, until) = ("2026-10-24T22:00:00Z", "2026-10-25T03:00:00Z");
    let table: &[(&str, &[&str])] = &[
        // A fixed time in the repeated hour runs once, the first time.
        ("30 2 * * *", &["2026-10-25T02:30:00+02:00"]),
        ("0 2 * * *", &["2026-10-25T02:00:00+02:00"]),
        ("30 3 * * *", &["2026-10-25T03:30:00+01:00"]),
        // Hourly keeps its real-time pace: 02:00 in both passes, an hour apart.
        (
            "0 * * * *",
            &[
                "2026-10-25T01:00:00+02:00",
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T03:00:00+01:00",
                "2026-10-25T04:00:00+01:00",
            ],
        ),
    ];
    for (cron, expected) in table {
        assert_eq!(slots(cron, from, until), *expected, "{cron}");
    }
    let timing = Timing::parse(Some("30 2 * * *"), None, "Europe/Berlin").expect("timing");
    // Asked from inside the second pass, the next is tomorrow's: never a repeat.
    assert_eq!(
        timing.next_after(ts("2026-10-25T01:10:00Z")),
        Some(ts("2026-10-26T01:30:00Z"))
    );
}

#[test]
fn every_slot_is_a_minute_apart_at_least() {
    let timing = Timing::parse(Some("* * * * *"), None, "Europe/Berlin").expect("timing");
    let all = timing.slots(
        ts("2026-10-24T23:00:00Z"),
        ts("2026-10-25T04:00:00Z"),
        10_000,
    );
    assert_eq!(
        all.len(),
        300,
        "one a minute through the fall-back, in real time"
    );
    assert!(all
        .windows(2)
        .all(|w| w[1].as_second() - w[0].as_second() == 60));
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/Santiago",
    "Africa/Casablanca",
    "Etc/GMT+12",
    "Pacific/Kiritimati",
    "",
    "Mars/Olympus",
    "../../etc/passwd",
    "europe/berlin",
    "UTC\u{0}",
    "+01:00",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_cron_text_and_zone_is_a_timing_or_a_named_refusal(
        cron in prop_oneof![
            "[0-9*/,\\-LW#?A-Z@ ]{0,40}",
            "(\\*|[0-9]{1,2}|\\*/[0-9]{1,2}|[0-9]{1,2}-[0-9]{1,2}) (\\*|[0-9]{1,2}|\\*/[0-9]) (\\*|[0-9]{1,2}|L|[0-9]W) (\\*|[0-9]{1,2}|JAN|DEC) (\\*|[0-7]|MON-FRI|[0-6]#[0-9]|[0-6]L)",
            ".{0,60}",
        ],
        zone in prop::sample::select(ZONES),
        start in 0i64..4_102_444_800,
    ) {
        let now = Timestamp::from_second(start).expect("in range");
        match Timing::parse(Some(&cron), None, zone) {
            Ok(timing) => {
                match first_slot(&timing, now) {
                    Ok(first) => {
                        prop_assert!(first > now);
                        let later = timing.slots(first, first.checked_add(jiff::SignedDuration::from_hours(48)).expect("range"), 50);
                        for pair in std::iter::once(first).chain(later).collect::<Vec<_>>().windows(2) {
                            prop_assert!(pair[1].as_second() - pair[0].as_second() >= 60);
                        }
                    }
                    Err(invalid) => prop_assert_eq!(invalid.field, "cron"),
                }
            }
            Err(invalid) => prop_assert!(["cron", "tz"].contains(&invalid.field), "{:?}", invalid),
        }
        match Timing::parse(None, Some(&cron), zone) {
            Ok(_) => {}
            Err(invalid) => prop_assert!(["at", "tz"].contains(&invalid.field), "{:?}", invalid),
        }
    }
}
