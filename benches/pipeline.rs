//! The in-process request path: stages 1–6 to an intrinsic tool, then sanitize and audit.
//!
//! `cargo bench --bench pipeline`. Targets (issue 2): p50 ≤ 20 µs, ≥ 50k calls/s.

use std::sync::Arc;

use carapace::audit::{AuditLog, AuditWriter};
use carapace::config::Config;
use carapace::core::{Core, CoreParts};
use carapace::paths::Home;
use carapace::pipeline;
use carapace::plugins::PluginHost;
use carapace::session::socket::SocketServer;
use carapace::session::Session;
use carapace::tools::{intrinsic, Catalog};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn core_on(home: &Home) -> Core {
    home.ensure_layout().expect("layout");
    let config = Config::parse(
        "[groups.bench]\ntools = [\"*\"]\nrate_limit = { per_minute = 1000000000, burst = 1000000000 }\n",
        &home.config_file(),
    )
    .expect("config");
    let writer = AuditWriter::open(&home.audit_dir(), &home.audit_key(), 64 << 20).expect("audit");
    let (inbound, _keep) = tokio::sync::mpsc::channel(1);
    std::mem::forget(_keep);
    Core::new(CoreParts {
        home: home.clone(),
        config,
        catalog: Catalog::build(intrinsic::specs()).expect("catalog"),
        plugins: Arc::new(PluginHost::default()),
        sockets: SocketServer::start(inbound, None).expect("sockets"),
        audit: AuditLog::start(writer),
    })
}

fn bench_pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::at(dir.path().to_owned());
    let core = core_on(&home);
    let session = Arc::new(Session::new(
        "0123456789abcdef".into(),
        "bench".into(),
        "2026-01-01T00:00:00Z".into(),
        home.session_socket("0123456789abcdef"),
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let list_tools = br#"{"topic":"tool.invoke.list_tools","correlation":"c-1","arguments":{}}"#;
    let session_info =
        br#"{"topic":"tool.invoke.get_session_info","correlation":"c-2","arguments":{}}"#;
    let refused = br#"{"topic":"tool.invoke.list_tools","correlation":"c-3","arguments":{"x":1}}"#;
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    for (name, raw) in [
        ("get_session_info", &session_info[..]),
        ("list_tools", &list_tools[..]),
        ("validation_refusal", &refused[..]),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime)
                .iter(|| async { pipeline::handle(&core, &session, raw).await })
        });
    }
    group.finish();
    let _ = core.audit_log().flush();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
