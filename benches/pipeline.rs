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
use carapace::session::{Origin, Session};
use carapace::tools::{intrinsic, Catalog};
use carapace_zmtp::server::socket::SocketServer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A core with the bundled echo plugin running (`cargo build --release -p carapace-plugin-echo` first).
fn core_with_echo(home: &Home, runtime: &tokio::runtime::Runtime) -> Core {
    home.ensure_layout().expect("layout");
    let config = Config::parse(
        "[groups.bench]\ntools = [\"*\"]\nrate_limit = { per_minute = 1000000000, burst = 1000000000 }\n",
        &home.config_file(),
    )
    .expect("config");
    let release = std::path::Path::new(env!("CARGO_BIN_EXE_carapace"))
        .parent()
        .expect("target dir")
        .to_owned();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![release];
    dirs.extend(std::env::split_paths(&path));
    std::env::set_var("PATH", std::env::join_paths(dirs).expect("PATH"));
    std::env::set_var("CARAPACE_LAUNCHER", env!("CARGO_BIN_EXE_carapace"));
    let echo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    // Only echo: the other bundled plugins (memory) are not what this measures.
    let discovered: Vec<_> = carapace::plugins::discover(&[echo])
        .expect("discover")
        .into_iter()
        .filter(|p| p.name == "echo")
        .collect();
    let (host, _requests) = runtime.block_on(PluginHost::start(home, &discovered, &config));
    std::mem::forget(_requests);
    assert_eq!(host.running(), ["echo"], "build carapace-plugin-echo first");
    let mut specs = intrinsic::specs();
    specs.extend(carapace::plugins::tool_specs(&discovered).expect("specs"));
    let writer = AuditWriter::open(&home.audit_dir(), &home.audit_key(), 64 << 20).expect("audit");
    let (inbound, keep) = tokio::sync::mpsc::channel(1);
    std::mem::forget(keep);
    Core::new(CoreParts {
        home: home.clone(),
        config,
        catalog: Catalog::build(specs).expect("catalog"),
        plugins: Arc::new(host),
        sockets: runtime
            .block_on(async { SocketServer::start(inbound, None) })
            .expect("sockets"),
        audit: AuditLog::start(writer),
        paused: Default::default(),
        task_fires: Default::default(),
    })
}

fn bench_plugin_hop(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::at(dir.path().to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let core = core_with_echo(&home, &runtime);
    let session = Arc::new(Session::new(
        "0123456789abcdef".into(),
        "bench".into(),
        "2026-01-01T00:00:00Z".into(),
        home.session_socket("0123456789abcdef"),
        Origin::default(),
    ));
    let echo = br#"{"topic":"tool.invoke.echo","correlation":"c-4","arguments":{"text":"hello"}}"#;
    let intrinsic =
        br#"{"topic":"tool.invoke.get_session_info","correlation":"c-5","arguments":{}}"#;
    let mut group = c.benchmark_group("plugin_hop");
    group.throughput(Throughput::Elements(1));
    // Each call runs as a task on the core's runtime, as in the daemon, and the bench
    // thread waits for it: both calls pay that one wake-up, so their difference is the hop.
    let core = Arc::new(core);
    let on_runtime = |message: &'static [u8]| {
        let (core, session) = (Arc::clone(&core), Arc::clone(&session));
        runtime.spawn(async move { pipeline::handle(&core, &session, message).await })
    };
    group.bench_function("intrinsic_get_session_info", |b| {
        b.to_async(&runtime).iter(|| on_runtime(intrinsic))
    });
    group.bench_function("echo_plugin", |b| {
        b.to_async(&runtime).iter(|| on_runtime(echo))
    });
    // Throughput with 32 calls in flight at once (a busy agent, or several sessions).
    group.throughput(Throughput::Elements(32));
    group.bench_function("echo_plugin_32_in_flight", |b| {
        b.to_async(&runtime).iter(|| async {
            let calls = (0..32).map(|_| pipeline::handle(&core, &session, echo));
            futures::future::join_all(calls).await
        })
    });
    group.finish();
    runtime.block_on(core.plugins().shutdown());
}

/// The machine's floor for any plugin hop: one line to `cat` and back over pipes,
/// with blocking reads and nothing else. What `echo_plugin` costs over the intrinsic
/// call can be no less than this.
fn bench_pipe_floor(c: &mut Criterion) {
    use std::io::{BufRead, BufReader, Write};
    let mut cat = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cat");
    let mut to_cat = cat.stdin.take().expect("stdin");
    let mut from_cat = BufReader::new(cat.stdout.take().expect("stdout"));
    let mut line = String::new();
    c.bench_function("plugin_hop/floor_pipe_round_trip_to_cat", |b| {
        b.iter(|| {
            to_cat.write_all(b"{\"id\":1}\n").expect("write");
            line.clear();
            from_cat.read_line(&mut line).expect("read");
        })
    });
    drop(to_cat);
    let _ = cat.wait();
}

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
        paused: Default::default(),
        task_fires: Default::default(),
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
        Origin::default(),
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

criterion_group!(benches, bench_pipeline, bench_plugin_hop, bench_pipe_floor);
criterion_main!(benches);
