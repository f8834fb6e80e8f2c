#!/usr/bin/env bash
# The memory plugin's search, store and brief in the handler (library calls, no
# process hop), on disk under target/, at 5k and 100k entries; then the same
# search end to end (`ipc memory_search` through the release core and the real
# plugin process, on the 100k-entry database) against an intrinsic call
# (`ipc get_session_info`) and a plugin hop that does nothing (`ipc echo`), in the
# same hyperfine run.
# Usage: bench/memory.sh [SIZES...]   (default: 5000 100000; the end-to-end part
# runs when 100000 is among them). Needs hyperfine (apt-get install hyperfine).
# Targets at 100k: search p50 <= 2 ms, p99 <= 10 ms; store p50 <= 1 ms; brief <= 20 ms;
# end to end: memory_search p50 within 0.5 ms of the intrinsic call.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
kept=$(mktemp -d /tmp/cmem-XXXXXX)
home=$(mktemp -d /tmp/cmem-home-XXXXXX)
carapace=target/release/carapace
trap '"$carapace" --home "$home" stop >/dev/null 2>&1 || true; sleep 0.5; rm -rf "$kept" "$home"' EXIT
MEMORY_BENCH_DIR=$kept cargo bench -p carapace-plugin-memory --bench memory -- "$@"

db=$kept/uniform-100000/bench.sqlite
[ -f "$db" ] || exit 0
echo
echo "end to end, 100k entries (uniform words), release core + plugin process + static ipc:"
cargo build --quiet --release --bin carapace
cargo build --quiet --release -p carapace-plugin-memory
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --quiet -p carapace-ipc --bin ipc --profile ipc --target x86_64-unknown-linux-musl
ipc=target/x86_64-unknown-linux-musl/ipc/ipc
mkdir -p "$home/data/memory"
cp "$db" "$home/data/memory/bench.sqlite"
bench_config "$home"
CARAPACE_BUNDLED_PLUGINS=$PWD/plugins PATH=$PWD/target/release:$PATH start_core "$carapace" "$home"
# The plugin compacts the copied index when it opens the group (about a second).
sleep 3
socket=$("$carapace" --home "$home" session open --group bench --trust owner)
# Two words of a stored entry: a query that matches (and ranks) real rows.
query=$(python3 - "$db" <<'PY'
import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute(
    "select content from entries where id = (select max(id) / 2 from entries)").fetchone()
print(" ".join(row[0].split()[:2]))
PY
)
args="{\"query\":\"$query\",\"limit\":20}"
CARAPACE_IPC_SOCKET=$socket "$ipc" memory_search "$args" | head -c 200; echo
# Interleaved rounds (each runs every command 100 times), so a load that comes
# and goes on the machine weighs on every command alike; p50 over all rounds.
for round in $(seq 15); do
  CARAPACE_IPC_SOCKET=$socket hyperfine -N --warmup 20 --runs 100 \
    "$ipc memory_search '$args'" "$ipc echo '{\"text\":\"x\"}'" "$ipc get_session_info" \
    --export-json "$home/e2e-$round.json" >/dev/null
done
python3 - "$home" <<'PY'
import glob, json, statistics, sys
times = {}
for path in glob.glob(sys.argv[1] + "/e2e-*.json"):
    for run in json.load(open(path))["results"]:
        times.setdefault(run["command"].split()[1], []).extend(run["times"])
p50 = {name: statistics.median(t) * 1e3 for name, t in times.items()}
search, echo, info = p50["memory_search"], p50["echo"], p50["get_session_info"]
print(f"p50 over {len(times['echo'])} runs each: memory_search {search:.3f} ms, echo (the plugin "
      f"hop alone) {echo:.3f} ms, get_session_info {info:.3f} ms; memory_search over the "
      f"intrinsic {search - info:.3f} ms (target <= 0.5), of which the hop {echo - info:.3f} ms")
PY
