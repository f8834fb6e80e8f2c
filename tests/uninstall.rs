//! `carapace uninstall` on installs laid out as `install.sh` lays them out.
//!
//! Rule: it removes exactly the files and directories the install record lists (a
//! directory only when empty), never reaches outside the prefix through a link, never
//! removes the home without a second explicit yes (`--remove-home`), refuses without
//! a record, without a confirmation, and while a core or a program of the install
//! runs, each refusal with its code and nothing removed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{carapace_bin, TestCore, BASIC_CONFIG};

const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A prefix with an install of `files` (and the `dirs` the installer made), a
/// `bin/carapace` copied from the build, and the record listing them.
struct FakeInstall {
    root: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl FakeInstall {
    fn new(files: &[&str], dirs: &[&str]) -> FakeInstall {
        let root = tempfile::Builder::new()
            .prefix("cpu-")
            .tempdir_in("/tmp")
            .expect("prefix");
        let home = tempfile::Builder::new()
            .prefix("cpu-home-")
            .tempdir_in("/tmp")
            .expect("home");
        std::fs::write(home.path().join("config.toml"), "").expect("config");
        let install = FakeInstall { root, home };
        let prefix = install.prefix();
        // A copy, not a link: a link would share the inode every other test runs.
        std::fs::create_dir_all(prefix.join("bin")).expect("bin");
        std::fs::copy(carapace_bin(), prefix.join("bin/carapace")).expect("copy carapace");
        let mut record = format!(
            "# Carapace install record\nformat 1\nversion 0.0.1-test\ntarget x86_64-unknown-linux-gnu\n\
             commit abc\nprefix {}\n",
            prefix.display()
        );
        for dir in dirs {
            std::fs::create_dir_all(prefix.join(dir)).expect("dir");
            record.push_str(&format!("dir {dir}\n"));
        }
        for file in files {
            let path = prefix.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("parent");
            std::fs::write(&path, format!("installed {file}\n")).expect("file");
        }
        for file in files.iter().chain(&["bin/carapace"]) {
            record.push_str(&format!("file {HASH} {file}\n"));
        }
        std::fs::create_dir_all(prefix.join("share/carapace")).expect("share/carapace");
        std::fs::write(prefix.join("share/carapace/INSTALL"), record).expect("record");
        install
    }

    fn prefix(&self) -> PathBuf {
        self.root.path().join("prefix")
    }

    /// Runs the installed `carapace` (prefix taken from its location) on this home.
    fn uninstall(&self, args: &[&str]) -> Output {
        uninstall_with(&self.prefix().join("bin/carapace"), self.home.path(), args)
    }
}

/// `PROGRAM --home HOME uninstall ARGS`, with no terminal.
fn uninstall_with(program: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .arg("--home")
        .arg(home)
        .arg("uninstall")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run carapace uninstall")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const FILES: [&str; 5] = [
    "bin/carapace-plugin-x",
    "share/carapace/plugins/x/manifest.json",
    "share/carapace/plugins/x/skills/x.md",
    "share/doc/carapace/README.md",
    "share/bash-completion/completions/carapace.bash",
];
const DIRS: [&str; 6] = [
    "share/carapace",
    "share/carapace/plugins",
    "share/carapace/plugins/x",
    "share/carapace/plugins/x/skills",
    "share/doc/carapace",
    "share/bash-completion/completions",
];

#[test]
fn removes_every_listed_file_and_nothing_else() {
    let install = FakeInstall::new(&FILES, &DIRS);
    let prefix = install.prefix();
    let unrelated = [
        "bin/other-tool",
        "share/doc/other/README",
        "share/carapace/plugins/mine/manifest.json",
        "share/bash-completion/completions/git",
    ];
    for file in unrelated {
        let path = prefix.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("parent");
        std::fs::write(&path, "not Carapace's").expect("unrelated file");
    }
    let out = install.uninstall(&["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    for file in FILES
        .iter()
        .chain(&["bin/carapace", "share/carapace/INSTALL"])
    {
        assert!(!prefix.join(file).exists(), "{file} is still there");
    }
    for file in unrelated {
        assert_eq!(
            std::fs::read_to_string(prefix.join(file)).expect(file),
            "not Carapace's"
        );
    }
    for gone in [
        "share/carapace/plugins/x",
        "share/doc/carapace",
        "share/carapace/plugins/x/skills",
    ] {
        assert!(!prefix.join(gone).exists(), "{gone} is still there");
    }
    // Recorded directories that hold something else stay, and are named.
    for kept in [
        "share/carapace/plugins",
        "share/bash-completion/completions",
    ] {
        assert!(prefix.join(kept).is_dir(), "{kept} was removed");
        assert!(
            text(&out).contains(&format!("kept {kept}/")),
            "{}",
            text(&out)
        );
    }
    // `--yes` alone never removes the home.
    assert!(install.home.path().join("config.toml").is_file());
    assert!(
        text(&out).contains("kept the Carapace home"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("0.0.1-test"), "{}", text(&out));
}

#[test]
fn refuses_without_a_record_and_without_a_confirmation() {
    // A cargo-style install: the program, no record.
    let bare = tempfile::tempdir().expect("prefix");
    std::fs::create_dir_all(bare.path().join("bin")).expect("bin");
    std::fs::copy(carapace_bin(), bare.path().join("bin/carapace")).expect("copy");
    let out = uninstall_with(&bare.path().join("bin/carapace"), bare.path(), &["--yes"]);
    assert!(!out.status.success());
    let said = text(&out);
    for needle in [
        "NO_INSTALL_RECORD",
        "cargo uninstall carapace",
        "nix profile remove",
    ] {
        assert!(said.contains(needle), "{needle}: {said}");
    }
    assert!(bare.path().join("bin/carapace").is_file());

    // No terminal and no --yes: nobody confirmed, nothing is removed.
    let install = FakeInstall::new(&FILES, &DIRS);
    let out = install.uninstall(&[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("NEEDS_CONFIRMATION"), "{}", text(&out));
    for file in FILES {
        assert!(install.prefix().join(file).is_file(), "{file} was removed");
    }
    // The same refusal as JSON.
    let out = install.uninstall(&["--json"]);
    assert!(!out.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["error"]["code"], "NEEDS_CONFIRMATION");
}

#[test]
fn never_reaches_outside_the_prefix_or_trusts_an_odd_record() {
    let install = FakeInstall::new(&FILES, &DIRS);
    let prefix = install.prefix();
    // share/carapace/plugins is now a link to a directory outside the prefix that
    // holds a file at the listed name.
    let outside = tempfile::tempdir().expect("outside");
    std::fs::create_dir_all(outside.path().join("x/skills")).expect("outside dirs");
    std::fs::write(outside.path().join("x/manifest.json"), "outside").expect("outside file");
    std::fs::write(outside.path().join("x/skills/x.md"), "outside").expect("outside file");
    std::fs::remove_dir_all(prefix.join("share/carapace/plugins")).expect("rm plugins");
    std::os::unix::fs::symlink(outside.path(), prefix.join("share/carapace/plugins"))
        .expect("link");
    let out = install.uninstall(&["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(outside.path().join("x/manifest.json")).expect("outside"),
        "outside"
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("x/skills/x.md")).expect("outside"),
        "outside"
    );
    assert!(
        text(&out).contains("left in place: share/carapace/plugins/x/manifest.json"),
        "{}",
        text(&out)
    );
    assert!(!prefix.join("bin/carapace-plugin-x").exists());

    // A record that names a path outside the prefix, or is itself a link, is not trusted.
    for (what, record) in [
        (
            "dot-dot",
            format!("format 1\nversion 1\nfile {HASH} bin/../../victim\n"),
        ),
        (
            "absolute",
            format!("format 1\nversion 1\nfile {HASH} /tmp/victim\n"),
        ),
        (
            "outside bin/share",
            format!("format 1\nversion 1\nfile {HASH} etc/victim\n"),
        ),
    ] {
        let install = FakeInstall::new(&FILES, &DIRS);
        let record_path = install.prefix().join("share/carapace/INSTALL");
        std::fs::write(&record_path, record).expect("record");
        let out = install.uninstall(&["--yes"]);
        assert!(!out.status.success(), "{what}");
        assert!(
            text(&out).contains("BAD_INSTALL_RECORD"),
            "{what}: {}",
            text(&out)
        );
        assert!(install.prefix().join(FILES[0]).is_file(), "{what}");
    }
    let install = FakeInstall::new(&FILES, &DIRS);
    let record_path = install.prefix().join("share/carapace/INSTALL");
    let elsewhere = install.root.path().join("INSTALL.elsewhere");
    std::fs::rename(&record_path, &elsewhere).expect("move record");
    std::os::unix::fs::symlink(&elsewhere, &record_path).expect("link record");
    let out = install.uninstall(&["--yes"]);
    assert!(text(&out).contains("BAD_INSTALL_RECORD"), "{}", text(&out));
    assert!(install.prefix().join(FILES[0]).is_file());
}

#[test]
fn removes_the_home_only_on_remove_home() {
    let install = FakeInstall::new(&FILES, &DIRS);
    let home = install.home.path().to_owned();
    std::fs::create_dir_all(home.join("keys")).expect("keys");
    let out = install.uninstall(&["--yes", "--remove-home"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!home.exists(), "the home is still there");
    assert!(text(&out).contains("removed the Carapace home"));

    // A directory that does not look like a home is refused before anything is removed.
    let install = FakeInstall::new(&FILES, &DIRS);
    std::fs::remove_file(install.home.path().join("config.toml")).expect("rm config");
    std::fs::write(install.home.path().join("thesis.tex"), "years of work").expect("file");
    let out = install.uninstall(&["--yes", "--remove-home"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("HOME_REFUSED"), "{}", text(&out));
    assert!(install.home.path().join("thesis.tex").is_file());
    assert!(install.prefix().join(FILES[0]).is_file());
}

#[test]
fn refuses_while_a_core_or_a_program_of_the_install_runs() {
    let install = FakeInstall::new(&FILES, &DIRS);
    let prefix = install.prefix();
    // A plugin handler of this install still running (here: a copy of sleep under its name).
    std::fs::copy("/bin/sleep", prefix.join("bin/carapace-plugin-x")).expect("copy sleep");
    let mut running = Command::new(prefix.join("bin/carapace-plugin-x"))
        .arg("30")
        .spawn()
        .expect("run it");
    let out = install.uninstall(&["--yes"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("IN_USE"), "{said}");
    assert!(
        said.contains(&format!("bin/carapace-plugin-x (pid {})", running.id())),
        "{said}"
    );
    assert!(prefix.join("bin/carapace-plugin-x").is_file());
    running.kill().expect("kill");
    running.wait().expect("wait");

    // A core answering on the home's control socket, as `carapace status` finds it.
    let core = TestCore::start(BASIC_CONFIG);
    let out = uninstall_with(&prefix.join("bin/carapace"), core.home.path(), &["--yes"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("CORE_RUNNING"), "{said}");
    assert!(said.contains("carapace stop"), "{said}");
    assert!(prefix.join(FILES[0]).is_file());
    assert!(Path::new(&prefix.join("share/carapace/INSTALL")).is_file());
}
