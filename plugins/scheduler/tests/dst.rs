//! The schedule computation on Europe/Berlin's DST days, and fuzz-ish input.
//!
//! Rule (docs/scheduler.md, "Time"): every slot is a UTC instant. A pattern
//! whose hour field lists hours (one, a list, a range, a partial step) runs
//! each listed local time once: one that does not exist (spring forward) at
//! the first valid minute after the gap, one that happens twice (fall back) at
//! its first occurrence. A pattern whose hour field is `*` or `*/n` keeps its
//! pace in real time. Any cron text and zone name gives a timing or an
//! `Invalid` naming `cron`, `at` or `tz`, never a panic.

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

/// The whole local day of 29 March 2026 (spring forward) or 25 October 2026
/// (fall back) in Berlin, as local times with their offsets.
fn day(cron: &str, spring: bool) -> Vec<String> {
    if spring {
        slots(cron, "2026-03-28T22:59:59Z", "2026-03-29T21:59:59Z")
    } else {
        slots(cron, "2026-10-24T21:59:59Z", "2026-10-25T22:59:59Z")
    }
}

/// Rule: a pattern whose hour field names hours (a single hour, a list, a
/// range, or a step over part of the day) runs each listed local time once: a
/// time in the spring gap at the first valid minute after it (several such
/// times once), a repeated time at its first occurrence. A pattern whose hour
/// field is `*` or `*/n` keeps its pace in real time: its slots in the gap do
/// not exist, and it runs in both passes of the repeated hour.
#[test]
fn lists_ranges_steps_and_wildcards_on_both_dst_days() {
    let table: &[(&str, bool, &[&str])] = &[
        // Lists.
        (
            "30 2,14 * * *",
            true,
            &["2026-03-29T03:00:00+02:00", "2026-03-29T14:30:00+02:00"],
        ),
        (
            "30 2,14 * * *",
            false,
            &["2026-10-25T02:30:00+02:00", "2026-10-25T14:30:00+01:00"],
        ),
        ("0,30 2 * * *", true, &["2026-03-29T03:00:00+02:00"]),
        (
            "0,30 2 * * *",
            false,
            &["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00"],
        ),
        // Ranges.
        (
            "0 1-3 * * *",
            true,
            &["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"],
        ),
        (
            "0 1-3 * * *",
            false,
            &[
                "2026-10-25T01:00:00+02:00",
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T03:00:00+01:00",
            ],
        ),
        (
            "30 1-3 * * *",
            true,
            &[
                "2026-03-29T01:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T03:30:00+02:00",
            ],
        ),
        (
            "30 1-3 * * *",
            false,
            &[
                "2026-10-25T01:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-25T03:30:00+01:00",
            ],
        ),
        // A step over part of the day is a list of hours.
        (
            "0 1-5/2 * * *",
            false,
            &[
                "2026-10-25T01:00:00+02:00",
                "2026-10-25T03:00:00+01:00",
                "2026-10-25T05:00:00+01:00",
            ],
        ),
        // Every minute of one hour: the hour's minutes once each, the first pass only.
        (
            "*/20 2 * * *",
            false,
            &[
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:20:00+02:00",
                "2026-10-25T02:40:00+02:00",
            ],
        ),
        ("*/20 2 * * *", true, &["2026-03-29T03:00:00+02:00"]),
        // A step over the whole day keeps its pace in real time, as `*` does.
        (
            "0 */2 * * *",
            true,
            &[
                "2026-03-29T00:00:00+01:00",
                "2026-03-29T04:00:00+02:00",
                "2026-03-29T06:00:00+02:00",
                "2026-03-29T08:00:00+02:00",
                "2026-03-29T10:00:00+02:00",
                "2026-03-29T12:00:00+02:00",
                "2026-03-29T14:00:00+02:00",
                "2026-03-29T16:00:00+02:00",
                "2026-03-29T18:00:00+02:00",
                "2026-03-29T20:00:00+02:00",
                "2026-03-29T22:00:00+02:00",
            ],
        ),
        (
            "0 */2 * * *",
            false,
            &[
                "2026-10-25T00:00:00+02:00",
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T04:00:00+01:00",
                "2026-10-25T06:00:00+01:00",
                "2026-10-25T08:00:00+01:00",
                "2026-10-25T10:00:00+01:00",
                "2026-10-25T12:00:00+01:00",
                "2026-10-25T14:00:00+01:00",
                "2026-10-25T16:00:00+01:00",
                "2026-10-25T18:00:00+01:00",
                "2026-10-25T20:00:00+01:00",
                "2026-10-25T22:00:00+01:00",
            ],
        ),
    ];
    for (cron, spring, expected) in table {
        assert_eq!(day(cron, *spring), *expected, "{cron} (spring: {spring})");
    }
    // Wildcards keep real time: every 30 minutes through both passes of the
    // repeated hour (2 more than a plain day), none in the gap (2 fewer).
    let spring = day("*/30 * * * *", true);
    let fall = day("*/30 * * * *", false);
    assert_eq!((spring.len(), fall.len()), (46, 50));
    assert!(!spring.iter().any(|s| s.contains("T02:")), "{spring:?}");
    let twice: Vec<&String> = fall.iter().filter(|s| s.contains("T02:")).collect();
    assert_eq!(
        twice,
        [
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:00:00+01:00",
            "2026-10-25T02:30:00+01:00"
        ]
    );
}

/// The steps backwards (what the misfire policies count) follow the same rule.
#[test]
fn the_previous_slot_across_dst_follows_the_same_rule() {
    let list = Timing::parse(Some("30 2,14 * * *"), None, "Europe/Berlin").expect("timing");
    // From inside the second pass of 02:xx: the previous is the first pass's 02:30.
    assert_eq!(
        list.previous_before(ts("2026-10-25T01:40:00Z")),
        Some(ts("2026-10-25T00:30:00Z"))
    );
    // From inside the second pass, the next is 14:30, never the repeat.
    assert_eq!(
        list.next_after(ts("2026-10-25T01:10:00Z")),
        Some(ts("2026-10-25T13:30:00Z"))
    );
    let range = Timing::parse(Some("30 1-3 * * *"), None, "Europe/Berlin").expect("timing");
    // 02:30 in the gap ran at 03:00 CEST (01:00Z); before it, 01:30 CET.
    assert_eq!(
        range.previous_before(ts("2026-03-29T01:20:00Z")),
        Some(ts("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        range.previous_before(ts("2026-03-29T01:00:00Z")),
        Some(ts("2026-03-29T00:30:00Z"))
    );
    // Walking back over the fall-back day gives the forward slots, reversed.
    let mut back = Vec::new();
    let mut cursor = ts("2026-10-25T22:59:59Z");
    while let Some(slot) = range.previous_before(cursor) {
        if slot < ts("2026-10-24T21:59:59Z") {
            break;
        }
        back.push(range.local(slot));
        cursor = slot;
    }
    back.reverse();
    assert_eq!(back, day("30 1-3 * * *", false));
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
