//! What confinement a handler actually gets here: the launcher probed once (it confines
//! `carapace __confine-check`, which measures itself), and the per-plugin report that
//! `status` and `get_session_info` show.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use super::namespace::{SocketHiding, VISIBLE_LINE};
use super::observe::Observed;
use super::spec::{self, ConfineSpec, RunAs, DEVICES, ETC_READ, SYSTEM_EXEC};
use super::ConfinementSupport;

/// The hidden subcommand that prints [`Observed`] as JSON.
pub const CHECK_COMMAND: &str = "__confine-check";

/// What one run of the launcher showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LauncherProbe {
    /// Whether the core's sockets were hidden.
    pub sockets: SocketHiding,
    /// What the confined check measured, or why it could not run.
    pub observed: Result<Observed, String>,
}

/// Runs the launcher once on a scratch directory, as a handler of `run_as` without network,
/// and reads what the confined check found (the core itself never changes namespace, uid or
/// filter). Costs one process.
pub fn probe_launcher(carapace_exe: &Path, run_as: Option<RunAs>) -> LauncherProbe {
    let failed = |why: String| LauncherProbe {
        sockets: SocketHiding::Visible(why.clone()),
        observed: Err(why),
    };
    let scratch = match tempfile::Builder::new()
        .prefix("carapace-nsprobe-")
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => return failed(format!("cannot make a scratch directory: {e}")),
    };
    let run = scratch.path().join("run");
    let keep = run.join("credentials").join("probe");
    if let Err(e) = std::fs::create_dir_all(&keep) {
        return failed(format!("cannot make a scratch directory: {e}"));
    }
    let exe = std::fs::canonicalize(carapace_exe).unwrap_or_else(|_| carapace_exe.to_path_buf());
    let mut read_exec: Vec<PathBuf> = SYSTEM_EXEC.iter().map(PathBuf::from).collect();
    read_exec.push(exe.clone());
    let mut read_only: Vec<PathBuf> = ETC_READ.iter().map(PathBuf::from).collect();
    read_only.push(keep);
    let mut spec = ConfineSpec {
        read_only,
        read_exec,
        devices: DEVICES.iter().map(PathBuf::from).collect(),
        hide: vec![run],
        run_as,
        ..ConfineSpec::default()
    };
    // `keep` is bound back beneath the hidden `run`, as a handler's credentials are.
    spec::finish(&mut spec);
    let output = Command::new(&exe)
        .arg("__confine")
        .arg(spec.to_arg())
        .arg("--")
        .arg(&exe)
        .arg(CHECK_COMMAND)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => return failed(format!("cannot run the launcher: {e}")),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return failed(format!(
            "the launcher failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    let sockets = match stderr
        .lines()
        .find_map(|line| line.strip_prefix(VISIBLE_LINE))
    {
        Some(reason) => SocketHiding::Visible(reason.to_owned()),
        None => SocketHiding::Hidden,
    };
    let observed = serde_json::from_slice::<Observed>(&output.stdout)
        .map_err(|e| format!("the launcher's check printed no report ({e})"));
    LauncherProbe { sockets, observed }
}

/// Exactly what one running handler gets, for `status` and `get_session_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Enforced {
    /// The Landlock ABI, or `None` without Landlock.
    pub landlock_abi: Option<u8>,
    /// What Landlock restricts for this handler on this kernel.
    pub landlock_rules: Vec<String>,
    /// Whether the core's sockets (`run/`) are hidden from it.
    pub core_sockets_hidden: bool,
    /// Whether the seccomp socket filter is in force.
    pub seccomp_socket_filter: bool,
    /// The socket families it may open (when the filter is in force).
    pub socket_families: Vec<String>,
    /// UDP: refused by seccomp, allowed by the manifest, or not refused.
    pub udp: String,
    /// Raw and packet sockets: refused, and by what.
    pub raw_and_packet_sockets: String,
    /// Whether all five capability sets are empty.
    pub capabilities_dropped: bool,
    /// Whether no-new-privs is set.
    pub no_new_privs: bool,
    /// The uid it runs as.
    pub uid: u32,
    /// The gid it runs as.
    pub gid: u32,
    /// Every protection missing.
    pub not_enforced: Vec<String>,
}

/// Builds the report of a handler with `network`, running as `ids`, from the probes.
pub fn enforced(
    landlock: ConfinementSupport,
    probe: &LauncherProbe,
    network: bool,
    ids: (u32, u32),
) -> Enforced {
    let abi = landlock.abi.unwrap_or(0);
    let mut rules = Vec::new();
    let mut add = |since: u8, rule: &str| {
        if abi >= since {
            rules.push(rule.to_owned());
        }
    };
    add(1, "files: read/write/execute only beneath its grants");
    add(3, "truncate");
    if !network {
        add(4, "TCP bind/connect refused");
    }
    add(5, "device ioctl");
    add(6, "signals and abstract unix sockets scoped");
    add(9, "pathname unix socket connect");
    if !network {
        add(10, "UDP bind/send refused");
    }
    let observed = probe.observed.as_ref().ok();
    let seccomp = observed.is_some_and(Observed::seccomp_filter);
    let capabilities_dropped = observed.is_some_and(Observed::no_capabilities);
    let mut families = vec!["AF_UNIX".to_owned()];
    if network {
        families.extend(["AF_INET".to_owned(), "AF_INET6".to_owned()]);
    }
    let udp = match (network, seccomp, abi >= 10) {
        (true, _, _) => "allowed (network: true)",
        (false, true, _) => "refused by seccomp (no AF_INET/AF_INET6 sockets)",
        (false, false, true) => "refused by Landlock",
        (false, false, false) => "NOT refused",
    };
    let raw = match (seccomp, capabilities_dropped) {
        (true, true) => "refused by seccomp; no CAP_NET_RAW",
        (true, false) => "refused by seccomp",
        (false, true) => "refused: no CAP_NET_RAW",
        (false, false) => "NOT refused",
    };
    let mut not_enforced: Vec<String> = landlock
        .gaps()
        .into_iter()
        // Refused by the filter without `network`, allowed with it.
        .filter(|gap| !((seccomp || network) && (gap.starts_with("UDP") || gap.starts_with("TCP"))))
        .map(str::to_owned)
        .collect();
    not_enforced.extend(probe.sockets.gap());
    match &probe.observed {
        Err(why) => not_enforced.push(format!("the launcher's self-check failed: {why}")),
        Ok(seen) => {
            if !seccomp {
                not_enforced.push(
                    "no seccomp socket filter: UDP, netlink and other socket families are not \
                     refused"
                        .into(),
                );
            }
            if !capabilities_dropped {
                not_enforced.push(format!(
                    "capabilities are not all dropped ({:?})",
                    seen.capabilities
                ));
            }
        }
    }
    if ids.0 == 0 {
        not_enforced.push("the handler runs as root".into());
    }
    Enforced {
        landlock_abi: landlock.abi,
        landlock_rules: rules,
        core_sockets_hidden: probe.sockets.is_hidden(),
        seccomp_socket_filter: seccomp,
        socket_families: if seccomp { families } else { Vec::new() },
        udp: udp.into(),
        raw_and_packet_sockets: raw.into(),
        capabilities_dropped,
        no_new_privs: observed.is_some_and(|o| o.no_new_privs),
        uid: ids.0,
        gid: ids.1,
        not_enforced,
    }
}

impl Enforced {
    /// One line: `confined (landlock ABI 7, sockets hidden, seccomp: AF_UNIX only,
    /// no capabilities, uid 2000001234)`; `UNCONFINED (no landlock, ...)` without Landlock.
    pub fn summary(&self) -> String {
        let landlock = match self.landlock_abi {
            Some(abi) => format!("confined (landlock ABI {abi}"),
            None => "UNCONFINED (no landlock".into(),
        };
        let sockets = if self.core_sockets_hidden {
            "sockets hidden"
        } else {
            "sockets VISIBLE"
        };
        let seccomp = if self.seccomp_socket_filter {
            format!("seccomp: {} only", self.socket_families.join("/"))
        } else {
            "NO seccomp".into()
        };
        let caps = if self.capabilities_dropped {
            "no capabilities"
        } else {
            "CAPABILITIES KEPT"
        };
        format!(
            "{landlock}, {sockets}, {seccomp}, {caps}, uid {})",
            self.uid
        )
    }
}
