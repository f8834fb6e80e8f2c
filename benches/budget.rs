//! The budget check a model request passes before it is forwarded: the caps
//! looked up in `[model]`, tokens held for the group and the task, and given
//! back once settled; and the settling itself (a day-file line).
//!
//! `cargo bench --bench budget`. Target (issue 16): the check adds ≤ 20 µs to a
//! model request at p50.

use std::collections::BTreeMap;
use std::sync::Arc;

use carapace::model_proxy::{
    DayLedger, Journal, ModelConfig, Reservation, SessionIdentity, TokenUsage, UsageLedger,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// A config with caps on 100 groups and 1,000 tasks, and a ledger that has
/// seen a day of them (the file-backed one the core uses).
fn setup(dir: &std::path::Path) -> (ModelConfig, Arc<dyn UsageLedger>) {
    let mut config = ModelConfig {
        daily_token_budget: 10_000_000_000,
        task_daily_token_budget: 1_000_000_000,
        group_budgets: BTreeMap::new(),
        task_budgets: BTreeMap::new(),
        ..ModelConfig::default()
    };
    let (ledger, _) = DayLedger::open(Journal::new(dir)).expect("ledger");
    let ledger: Arc<dyn UsageLedger> = Arc::new(ledger);
    let used = TokenUsage {
        input_tokens: 1_000,
        output_tokens: 200,
        ..TokenUsage::default()
    };
    for g in 0..100 {
        config
            .group_budgets
            .insert(format!("group-{g}"), 20_000_000_000);
        for t in 0..10 {
            let task = format!("task-{g}-{t}");
            config.task_budgets.insert(task.clone(), 2_000_000_000);
            let session = SessionIdentity {
                session_id: format!("s-{g}-{t}"),
                group: format!("group-{g}"),
                task: Some(task),
            };
            ledger.record(&session, &used);
        }
    }
    (config, ledger)
}

fn budget(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp");
    let (config, ledger) = setup(dir.path());
    let chat = SessionIdentity {
        session_id: "chat".into(),
        group: "group-42".into(),
        task: None,
    };
    let task = SessionIdentity {
        session_id: "task".into(),
        group: "group-42".into(),
        task: Some("task-42-7".into()),
    };
    let mut group = c.benchmark_group("budget");
    for (name, session) in [("check_group", &chat), ("check_group_and_task", &task)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                // What `forward` does: the caps, then hold, then (settled) give back.
                let caps = config.caps().caps(&session.group, session.task.as_deref());
                let held = Reservation::take(&ledger, session, 4_200, caps).expect("under the cap");
                drop(std::hint::black_box(held));
            })
        });
    }
    let answer = TokenUsage {
        input_tokens: 3_000,
        output_tokens: 400,
        ..TokenUsage::default()
    };
    // Settling an answer: counted, and a line appended to the day file.
    group.bench_function("settle_with_day_file", |b| {
        b.iter(|| ledger.record(&task, std::hint::black_box(&answer)))
    });
    group.finish();
}

criterion_group!(benches, budget);
criterion_main!(benches);
