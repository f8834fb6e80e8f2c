//! Lays out the core's machine code so that what it runs sits together.
//!
//! The kernel maps a program's code 64 KiB around every page the program
//! touches ("fault-around"), so code run at start-up and per call that is
//! scattered over the binary keeps most of the binary resident. On release
//! builds linked by LLD (the Rust toolchain's default linker on x86-64 Linux),
//! `link/code-order.txt` lists the functions the core runs, start-up first,
//! and the linker places them in that order at the head of the code. A name the
//! build does not contain (another compiler, another lock file) is skipped, so a
//! stale list costs memory, never correctness. `bash bench/code-order.sh`
//! writes the list again; `CARAPACE_NO_CODE_ORDER=1` builds without it. Any
//! other linker: the build goes on without it.
//!
//! Kept because it pays (issue 13 asked for ≥ 1 MB idle RSS or removal). Measured
//! 2026-12-03 on x86-64 Linux, list freshly written by `bench/code-order.sh`, the core
//! built with it and with `CARAPACE_NO_CODE_ORDER=1`, each started on a fresh home and
//! read from `/proc/<pid>/status` after 2 s, alternating, 3 runs each (medians):
//!
//! | core                     | with the list         | without               |
//! |--------------------------|-----------------------|-----------------------|
//! | idle, no plugin          | 8.8 MB (file 6.2 MB)  | 13.7 MB (file 11.1 MB)|
//! | echo plugin, one session | 10.0 MB (file 7.2 MB) | 15.0 MB (file 12.2 MB)|
//!
//! About 4.9 MB of resident code saved; allocated memory (`RssAnon`, 2.6 MB) is the same.
//!
//! It also tells the core where its source checkout is (`CARAPACE_SOURCE_TREE`, read by
//! `src/source_tree.rs`), for `cargo run` in development, unless `CARAPACE_DIST` is set:
//! `scripts/dist.sh` sets it, so that no build path is compiled into a release archive.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ORDER_FILE: &str = "link/code-order.txt";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARAPACE_DIST");
    if std::env::var_os("CARAPACE_DIST").is_none() {
        if let Ok(root) = std::env::var("CARGO_MANIFEST_DIR") {
            println!("cargo:rustc-env=CARAPACE_SOURCE_TREE={root}");
        }
    }
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    println!("cargo:rerun-if-env-changed=CARAPACE_NO_CODE_ORDER");
    if std::env::var_os("CARAPACE_NO_CODE_ORDER").is_some() {
        return;
    }
    let Some(root) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&root).join(ORDER_FILE);
    if !order.is_file() {
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    if linker_takes(&args) {
        for arg in &args {
            println!("cargo:rustc-link-arg-bin=carapace={arg}");
        }
    } else {
        println!(
            "cargo:warning=the linker does not take --symbol-ordering-file (not LLD); \
             the core's code keeps the compiler's order (more resident memory, same behaviour)"
        );
    }
}

/// Whether a program links with these extra linker arguments, with the compiler,
/// target, linker and flags of this build.
fn linker_takes(args: &[String]) -> bool {
    let (Some(rustc), Some(out)) = (std::env::var_os("RUSTC"), std::env::var_os("OUT_DIR")) else {
        return false;
    };
    let out = PathBuf::from(out);
    let source = out.join("probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let mut probe = Command::new(rustc);
    probe
        .arg(&source)
        .arg("-o")
        .arg(out.join("probe"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Ok(target) = std::env::var("TARGET") {
        probe.args(["--target", &target]);
    }
    if let Some(linker) = std::env::var_os("RUSTC_LINKER") {
        probe
            .arg("-C")
            .arg(format!("linker={}", linker.to_string_lossy()));
    }
    if let Ok(flags) = std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        probe.args(flags.split('\x1f').filter(|flag| !flag.is_empty()));
    }
    for arg in args {
        probe.arg("-C").arg(format!("link-arg={arg}"));
    }
    probe.status().is_ok_and(|status| status.success())
}
