#!/usr/bin/env bash
# Writes link/code-order.txt: the functions the release core runs, in the order
# the linker should place them (see build.rs). Runs the core twice under
# callgrind (apt-get install valgrind): once started with no plugin and stopped
# (start-up and idle code first), once with the echo plugin, a session, and
# calls through the pipeline (intrinsic, plugin, refused) before it stops.
# Rerun after a compiler or Cargo.lock update; `bash bench/ipc.sh` reports how
# many of the listed functions the build still contains.
# Usage: bench/code-order.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

# The link order changes no function's name, so the current build serves.
# The core alone, as `cargo build --release` builds it: built together with the
# example, the dev-dependencies would change shared crates' features and so the core.
cargo build --quiet --release --bin carapace
cargo build --quiet --release --example load
cargo build --quiet --release -p carapace-plugin-echo
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --quiet -p carapace-ipc --bin ipc --profile ipc --target x86_64-unknown-linux-musl
carapace=target/release/carapace
ipc=target/x86_64-unknown-linux-musl/ipc/ipc
work=$(mktemp -d /tmp/ccorder-XXXXXX)
trap 'for h in "$work"/home*; do "$carapace" --home "$h" stop >/dev/null 2>&1 || true; done; sleep 1; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

profile() { # NAME PLUGINS: start the core under callgrind on a fresh home
  local home="$work/home-$1"
  mkdir -p "$home"
  printf '[core]\nlog_level = "warn"\n[groups.bench]\ntools = ["*"]\n' > "$home/config.toml"
  CARAPACE_BUNDLED_PLUGINS=$2 valgrind --tool=callgrind --demangle=no \
    --callgrind-out-file="$work/$1.callgrind" "$carapace" --home "$home" start 2>"$work/$1.log" &
  for _ in $(seq 600); do "$carapace" --home "$home" status >/dev/null 2>&1 && return; sleep 0.1; done
  echo "the core did not start under valgrind; see $work/$1.log" >&2
  exit 1
}
finish() { # NAME: stop the core and wait for callgrind to write its profile
  "$carapace" --home "$work/home-$1" stop >/dev/null
  for _ in $(seq 600); do grep -q "Collected" "$work/$1.log" && return; sleep 0.1; done
}

profile idle ""
sleep 3
finish idle

profile calls "$PWD/plugins"
for _ in $(seq 600); do
  "$carapace" --home "$work/home-calls" status --json | grep -q '"running"' && break
  sleep 0.1
done
socket=$("$carapace" --home "$work/home-calls" session open --group bench)
export CARAPACE_IPC_SOCKET=$socket
for _ in 1 2 3; do
  "$ipc" get_session_info >/dev/null
  "$ipc" list_tools >/dev/null
  "$ipc" echo '{"text":"hello","uppercase":true}' >/dev/null
  "$ipc" echo '{"text":"hello","extra":1}' >/dev/null 2>&1 || true
  "$ipc" no_such_tool '{}' >/dev/null 2>&1 || true
  "$ipc" get_diagnostics '{}' >/dev/null 2>&1 || true
done
target/release/examples/load "$socket" 2000 >/dev/null
target/release/examples/load "$socket" 500 32 echo >/dev/null || true
"$carapace" --home "$work/home-calls" session close "$(basename "$(dirname "$socket")")" >/dev/null || true
finish calls

python3 - "$carapace" "$work/idle.callgrind" "$work/calls.callgrind" link/code-order.txt <<'PY'
import re, subprocess, sys
binary, idle, calls, out = sys.argv[1:]
def executed(path):
    """Functions callgrind saw run."""
    names, seen = {}, {}
    for line in open(path, errors="replace"):
        m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            idx, name = m.groups()
            if name:
                names[idx] = name
            seen.setdefault(names.get(idx), None)
    return [n for n in seen if n]
nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
code = {p[2] for p in (l.split() for l in nm.splitlines()) if len(p) == 3 and p[1] in "tTwW"}
# Start-up and idle code first, then what calls add; sorted within each, so
# that a rewrite after a small change is a small diff.
started = {n for n in executed(idle) if n in code}
called = {n for n in executed(calls) if n in code} - started
order = sorted(started) + sorted(called)
with open(out, "w") as f:
    f.write("\n".join(order) + "\n")
print(f"{out}: {len(order)} functions")
PY
