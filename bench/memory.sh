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
cat > "$home/config.toml" <<'TOML'
[core]
log_level = "warn"
[groups.bench]
tools = ["*"]
rate_limit = { per_minute = 1000000000, burst = 1000000000 }
TOML
CARAPACE_BUNDLED_PLUGINS=$PWD/plugins PATH=$PWD/target/release:$PATH \
  "$carapace" --home "$home" start 2>"$home/core.log" &
for _ in $(seq 100); do "$carapace" --home "$home" status >/dev/null 2>&1 && break; sleep 0.05; done
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
CARAPACE_IPC_SOCKET=$socket hyperfine -N --warmup 100 --runs 2000 \
  "$ipc memory_search '$args'" "$ipc echo '{\"text\":\"x\"}'" "$ipc get_session_info" \
  --export-json "$home/e2e.json" | sed -n '1,30p'
python3 - "$home/e2e.json" <<'PY'
import json, statistics, sys
runs = json.load(open(sys.argv[1]))["results"]
p50 = {r["command"].split()[1]: statistics.median(r["times"]) * 1e3 for r in runs}
search, echo, info = p50["memory_search"], p50["echo"], p50["get_session_info"]
print(f"p50 memory_search {search:.3f} ms, echo (the plugin hop alone) {echo:.3f} ms, "
      f"get_session_info {info:.3f} ms; memory_search over the intrinsic {search - info:.3f} ms "
      f"(target <= 0.5), of which the hop {echo - info:.3f} ms")
PY
