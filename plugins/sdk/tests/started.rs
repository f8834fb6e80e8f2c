//! `Plugin::started` and `Plugin::stopping`: background work with a link to the core outside any call.
//!
//! Rule: it runs once, after a successful `initialize` is answered and never
//! after a failed one; it may publish, log and ask the core; a panic in it
//! leaves the plugin serving; it learns when the core went away. `stopping`
//! runs at `shutdown`, before the answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use carapace_plugin_sdk::testing::Harness;
use carapace_plugin_sdk::{CallContext, CoreLink, Init, InitError, Plugin, ToolError};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

/// Publishes, asks the core, then waits for the core to go away and reports it.
struct Background {
    runs: Arc<AtomicUsize>,
    stops: Arc<AtomicUsize>,
    fail_init: bool,
    panic: bool,
    ended: Arc<Mutex<Option<mpsc::Sender<()>>>>,
}

impl Background {
    fn new(runs: &Arc<AtomicUsize>) -> Background {
        Background {
            runs: Arc::clone(runs),
            stops: Arc::new(AtomicUsize::new(0)),
            fail_init: false,
            panic: false,
            ended: Arc::new(Mutex::new(None)),
        }
    }
}

impl Plugin for Background {
    fn initialize(&mut self, _: &Init) -> Result<(), InitError> {
        if self.fail_init {
            return Err(InitError::config("asked to fail"));
        }
        Ok(())
    }

    fn call(&self, _: &CallContext, tool: &str, _: Value) -> Result<Value, ToolError> {
        Ok(json!({"tool": tool}))
    }

    fn stopping(&self) {
        // Slow on purpose: the answer to `shutdown` must wait for it.
        std::thread::sleep(Duration::from_millis(200));
        self.stops.fetch_add(1, Ordering::SeqCst);
    }

    fn started(&self, link: &CoreLink) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.panic {
            panic!("background broke");
        }
        let _ = link.publish("message.inbound", "main", json!({"text": "from the loop"}));
        let answer = link.request("services/ping", json!({}));
        link.log(
            carapace_plugin_sdk::Level::Info,
            format!("asked: {}", answer.is_ok()),
        );
        while !link.is_closed() {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(ended) = self.ended.lock().ok().and_then(|mut e| e.take()) {
            let _ = ended.send(());
        }
    }
}

#[test]
fn started_runs_once_after_initialize_and_may_publish_and_ask() {
    let runs = Arc::new(AtomicUsize::new(0));
    let plugin = Background::new(&runs);
    let (ended_tx, ended) = mpsc::channel();
    *plugin.ended.lock().expect("lock") = Some(ended_tx);
    let harness = Harness::start(plugin);
    harness.on_request(|method, _| Ok(json!({"method": method})));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(runs.load(Ordering::SeqCst), 0, "ran before initialize");
    assert_eq!(harness.initialize(json!({})), Ok(json!({})));
    let published = harness
        .wait_for_notification("event/publish", |_| true, WAIT)
        .expect("the loop published");
    assert_eq!(published["payload"]["text"], "from the loop");
    assert!(harness
        .wait_for_notification("log", |p| p["message"] == "asked: true", WAIT)
        .is_some());
    assert_eq!(
        harness.core_requests(),
        vec![("services/ping".to_owned(), json!({}))]
    );
    // Calls are served while it runs.
    assert_eq!(harness.call("x", json!({})), Ok(json!({"tool": "x"})));
    assert!(harness.initialize(json!({})).is_err());
    assert_eq!(runs.load(Ordering::SeqCst), 1, "started runs once");
    harness.close_input();
    ended
        .recv_timeout(WAIT)
        .expect("the loop saw the core go away");
}

#[test]
fn a_failed_initialize_starts_nothing() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut plugin = Background::new(&runs);
    plugin.fail_init = true;
    let harness = Harness::start(plugin);
    assert!(harness.initialize(json!({})).is_err());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(harness
        .notifications()
        .iter()
        .all(|(method, _)| method != "event/publish"));
}

#[test]
fn a_panic_in_started_is_logged_and_the_plugin_serves_on() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut plugin = Background::new(&runs);
    plugin.panic = true;
    let harness = Harness::start(plugin);
    assert_eq!(harness.initialize(json!({})), Ok(json!({})));
    let logged = harness.wait_for_notification(
        "log",
        |p| p["message"] == "the plugin's background work panicked",
        WAIT,
    );
    let logged = logged.expect("the panic is logged");
    assert_eq!(logged["level"], "error");
    assert!(!logged.to_string().contains("broke"), "panic text leaked");
    assert_eq!(harness.call("y", json!({})), Ok(json!({"tool": "y"})));
    assert!(harness.stray_lines().is_empty());
}

#[test]
fn stopping_runs_at_shutdown_before_the_answer() {
    let runs = Arc::new(AtomicUsize::new(0));
    let plugin = Background::new(&runs);
    let stops = Arc::clone(&plugin.stops);
    let harness = Harness::start(plugin);
    harness.on_request(|_, _| Ok(json!({})));
    assert_eq!(harness.initialize(json!({})), Ok(json!({})));
    assert_eq!(stops.load(Ordering::SeqCst), 0);
    assert_eq!(harness.shutdown(), Ok(json!({})));
    assert_eq!(
        stops.load(Ordering::SeqCst),
        1,
        "stopping ran before the answer"
    );
}
