"""An offline estimate of `systemd-analyze security` for a rendered serviceConfig.

The weights and ranges are systemd's own (src/analyze/analyze-security.c, security_assessor_table);
the score is computed as systemd does: sum(ceil(badness * weight / range)) * 100 / sum(weight),
shown divided by 10. Two things are modelled rather than read from a running system: the
implications systemd applies (DynamicUser= implies PrivateTmp=, RemoveIPC=, ProtectSystem=strict,
RestrictSUIDSGID=; PrivateDevices= implies DevicePolicy=closed; SystemCallFilter= implies
NoNewPrivileges=), and which assessed syscall groups @system-service reaches (only @privileged,
through @chown/@setuid, and @resources). The VM tests run the real thing.
"""

CAPABILITY_WEIGHTS = [1500, 1500, 1500, 1000, 1000, 1000, 1000, 500, 500, 500, 500, 1000, 1000,
                      500, 500, 100, 100, 75, 50, 50, 25, 25, 25, 25, 25]
NAMESPACE_WEIGHTS = {"user": 1500, "mnt": 500, "ipc": 500, "pid": 500, "cgroup": 500, "net": 500, "uts": 100}
SYSCALL_GROUP_WEIGHTS = {"@swap": 1000, "@obsolete": 250, "@clock": 1000, "@cpu-emulation": 250,
                         "@debug": 1000, "@mount": 1000, "@module": 1000, "@raw-io": 1000,
                         "@reboot": 1000, "@privileged": 700, "@resources": 700}
# Assessed groups that @system-service contains some syscall of.
SYSTEM_SERVICE_REACHES = {"@privileged", "@resources"}


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def allowed_syscall_groups(filters):
    """The assessed groups an allow-list (applied in order, `~` removes) still reaches."""
    entries = as_list(filters)
    if not entries or entries[0].startswith("~"):
        return None  # no allow-list: not modelled
    allowed = set()
    for entry in entries:
        remove = entry.startswith("~")
        for group in entry.lstrip("~").split():
            reached = SYSTEM_SERVICE_REACHES if group == "@system-service" else {group}
            allowed = allowed - reached if remove else allowed | reached
    return allowed


def assess(sc):
    """[(name, weight, badness, range)] for a serviceConfig dict (NixOS rendering)."""
    on = lambda key: sc.get(key) is True
    dynamic = on("DynamicUser")
    runs_as_root = not dynamic and sc.get("User") in (None, "", "root", "0")
    protect_system = "strict" if dynamic and "ProtectSystem" not in sc else sc.get("ProtectSystem")
    protect_home = sc.get("ProtectHome", "read-only" if dynamic else None)
    private_tmp = on("PrivateTmp") or dynamic
    filters = sc.get("SystemCallFilter")
    no_new_privs = on("NoNewPrivileges") or bool(filters) and not runs_as_root
    device_closed = sc.get("DevicePolicy") in ("closed", "strict") or on("PrivateDevices")
    rows = []
    row = lambda name, weight, badness, rng=1: rows.append((name, weight, badness, rng))

    row("User=/DynamicUser=", 2000, 10 if runs_as_root else 0, 10)
    if not runs_as_root:
        row("SupplementaryGroups=", 200, 1 if as_list(sc.get("SupplementaryGroups")) else 0)
        row("RemoveIPC=", 100, 0 if on("RemoveIPC") or dynamic else 1)
    for key, weight in [("PrivateDevices", 1000), ("PrivateMounts", 1000), ("PrivateNetwork", 2500),
                        ("PrivateUsers", 1000), ("ProtectControlGroups", 1000),
                        ("ProtectKernelModules", 1000), ("ProtectKernelTunables", 1000),
                        ("ProtectKernelLogs", 1000), ("ProtectClock", 1000), ("ProtectHostname", 50),
                        ("LockPersonality", 100), ("MemoryDenyWriteExecute", 100),
                        ("RestrictRealtime", 500)]:
        row(key + "=", weight, 0 if on(key) else 1)
    row("PrivateTmp=", 1000, 0 if private_tmp else 1)
    row("NoNewPrivileges=", 1000, 0 if no_new_privs else 1)
    row("RestrictSUIDSGID=", 1000, 0 if on("RestrictSUIDSGID") or dynamic else 1)
    row("ProtectHome=", 1000, {True: 0, "tmpfs": 1, "read-only": 5}.get(protect_home, 10), 10)
    row("ProtectSystem=", 1000, {"strict": 0, "full": 3, True: 5}.get(protect_system, 10), 10)
    row("RootDirectory=/RootImage=", 200, 0 if sc.get("RootDirectory") or sc.get("RootImage") else 1)
    caps_empty = as_list(sc.get("CapabilityBoundingSet")) == [""]
    for i, weight in enumerate(CAPABILITY_WEIGHTS):
        row(f"CapabilityBoundingSet[{i}]", weight, 0 if caps_empty else 1)
    umask = int(str(sc.get("UMask", "0022")), 8)
    umask_badness = 10 if not umask & 0o002 else 5 if not umask & 0o004 else 2 if not umask & 0o020 else 1 if not umask & 0o040 else 0
    row("UMask=", 100, umask_badness, 10)
    row("KeyringMode=", 1000, 0 if sc.get("KeyringMode", "private") == "private" else 1)
    row("ProtectProc=", 1000, {"invisible": 0, "ptraceable": 0, "noaccess": 1}.get(sc.get("ProtectProc"), 3), 3)
    row("ProcSubset=", 10, 0 if sc.get("ProcSubset") == "pid" else 1)
    row("NotifyAccess=", 1000, 1 if sc.get("NotifyAccess") == "all" else 0)
    row("Delegate=", 100, 1 if on("Delegate") else 0)
    namespaces = sc.get("RestrictNamespaces")
    allowed_ns = set(NAMESPACE_WEIGHTS) if namespaces in (None, False) else set() if namespaces is True else set(as_list(namespaces))
    for ns, weight in NAMESPACE_WEIGHTS.items():
        row(f"RestrictNamespaces=~{ns}", weight, 1 if ns in allowed_ns else 0)
    families = sc.get("RestrictAddressFamilies")
    fams = None if families is None else set(as_list(families))
    for name, members, weight in [("AF_(INET|INET6)", {"AF_INET", "AF_INET6"}, 1500), ("AF_UNIX", {"AF_UNIX"}, 25),
                                  ("AF_NETLINK", {"AF_NETLINK"}, 200), ("AF_PACKET", {"AF_PACKET"}, 1000)]:
        row(f"RestrictAddressFamilies=~{name}", weight, 1 if fams is None or fams & members else 0)
    known = {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET"}
    row("RestrictAddressFamilies=~…", 1250, 1 if fams is None or fams - known else 0)
    row("SystemCallArchitectures=", 1000, 0 if sc.get("SystemCallArchitectures") == "native" else 10, 10)
    allowed = allowed_syscall_groups(filters)
    for group, weight in SYSCALL_GROUP_WEIGHTS.items():
        badness = 10 if allowed is None else (9 if group in allowed else 0)
        row(f"SystemCallFilter=~{group}", weight, badness, 10)
    row("IPAddressDeny=", 1000, 0 if sc.get("IPAddressDeny") else 10, 10)
    row("DeviceAllow=", 1000, (5 if sc.get("DeviceAllow") else 0) if device_closed else 10, 10)
    row("AmbientCapabilities=", 500, 0 if as_list(sc.get("AmbientCapabilities")) in ([], [""]) else 1)
    return rows


def exposure(sc):
    """(score as systemd-analyze prints it, the rows that cost anything)."""
    rows = assess(sc)
    bad = sum(-(-badness * weight // rng) for _, weight, badness, rng in rows)
    total = sum(weight for _, weight, _, _ in rows)
    score = -(-bad * 100 // total)
    costly = [(name, -(-badness * weight // rng)) for name, weight, badness, rng in rows if badness]
    return score / 10, sorted(costly, key=lambda r: -r[1])
