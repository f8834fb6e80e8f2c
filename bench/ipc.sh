#!/usr/bin/env bash
# Whole-process `ipc` calls against a running core, the static client's size,
# and the core's RSS idle and after 100k calls. Needs hyperfine (apt-get install hyperfine).
# Usage: bench/ipc.sh [CALLS]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
calls=${1:-100000}

# The core alone, as `cargo build --release` builds it: built together with the
# example, the dev-dependencies would change shared crates' features and so the core.
cargo build --quiet --release --bin carapace
cargo build --quiet --release --example load
cargo build --quiet --release -p carapace-plugin-echo
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --quiet -p carapace-ipc --bin ipc --profile ipc --target x86_64-unknown-linux-musl
ipc=target/x86_64-unknown-linux-musl/ipc/ipc
carapace=target/release/carapace

listed=$(wc -l < link/code-order.txt)
present=$(nm --defined-only "$carapace" | awk '{print $3}' | sort -u | comm -12 - <(sort -u link/code-order.txt) | wc -l)
echo "code order (build.rs): $present of $listed listed functions are in this build (rerun bench/code-order.sh when few are)"

rss() { awk '/VmRSS|RssAnon|RssFile/ {printf "%s %s kB  ", $1, $2} END {print ""}' "/proc/$1/status"; }
bare=$(mktemp -d /tmp/cbench-XXXXXX)
CARAPACE_BUNDLED_PLUGINS= start_core "$carapace" "$bare"
bare_pid=$core_pid
sleep 2
echo "core RSS idle (no plugin, no session): $(rss $bare_pid)"
"$carapace" --home "$bare" stop >/dev/null
wait "$bare_pid" || true
rm -rf "$bare"

home=$(mktemp -d /tmp/cbench-XXXXXX)
trap '"$carapace" --home "$home" stop >/dev/null 2>&1 || true; sleep 0.5; rm -rf "$home"' EXIT
bench_config "$home"
start_core "$carapace" "$home"
socket=$("$carapace" --home "$home" session open --group bench)
sleep 2

echo "ipc static size: $(stat -c %s "$ipc") bytes ($(file -b "$ipc" | cut -d, -f1-2))"
echo "core RSS idle (echo plugin, one session): $(rss $core_pid)"
CARAPACE_IPC_SOCKET=$socket hyperfine -N --warmup 100 --runs 2000 \
  "$ipc get_session_info" "/bin/true" --export-json "$home/hyperfine.json" | sed -n '1,20p'
python3 - "$home/hyperfine.json" <<'PY'
import json, statistics, sys
runs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ipc = next(v for k, v in runs.items() if "ipc" in k)
true = runs["/bin/true"]
p50 = lambda r: statistics.median(r["times"]) * 1e3
print(f"p50 ipc {p50(ipc):.3f} ms, /bin/true {p50(true):.3f} ms, ipc over true: {p50(ipc) - p50(true):.3f} ms")
PY
for round in 1 2 3; do
  target/release/examples/load "$socket" "$calls"
  sleep 1
  echo "core RSS after $((round * calls)) calls: $(rss $core_pid)"
done
