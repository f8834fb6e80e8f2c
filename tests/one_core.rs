//! One core per home: cores started at the same moment on one home leave
//! exactly one running (the others say it is already running), since two
//! would write the same token ledger, audit log and state files.
//!
//! Seen failing with only the control-socket probe: both cores ran.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn cores_started_together_on_one_home_leave_exactly_one_running() {
    let home = tempfile::Builder::new()
        .prefix("cpt-")
        .tempdir_in("/tmp")
        .expect("home");
    std::fs::write(
        home.path().join("config.toml"),
        "[groups.main]\ntools = [\"*\"]\n",
    )
    .expect("config");
    let start = || {
        Command::new(common::carapace_bin())
            .arg("--home")
            .arg(home.path())
            .arg("start")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start")
    };
    let mut cores: Vec<_> = (0..3).map(|_| start()).collect();
    // Those refused exit at once; the one that runs stays.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut refused = Vec::new();
    while refused.len() < 2 && Instant::now() < deadline {
        for core in cores.iter_mut() {
            if let Ok(Some(status)) = core.try_wait() {
                refused.push(status);
            }
        }
        cores.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    cores.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
    assert_eq!(cores.len(), 1, "running cores: {}", cores.len());
    assert!(refused.iter().all(|s| !s.success()), "{refused:?}");
    let stop = Command::new(common::carapace_bin())
        .arg("--home")
        .arg(home.path())
        .arg("stop")
        .output()
        .expect("stop");
    assert!(stop.status.success(), "{stop:?}");
    for mut core in cores {
        let _ = core.wait();
    }
}
