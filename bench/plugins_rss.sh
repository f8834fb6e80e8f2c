#!/usr/bin/env bash
# Core RSS with 10 plugins loaded (handlers excluded): ten copies of the echo
# plugin under distinct names and tool names. Usage: bench/plugins_rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin carapace
cargo build --quiet --release -p carapace-plugin-echo
carapace=target/release/carapace
home=$(mktemp -d /tmp/cprss-XXXXXX)
trap '"$carapace" --home "$home" stop >/dev/null 2>&1 || true; sleep 0.5; rm -rf "$home"' EXIT
mkdir -p "$home/extra"
for i in $(seq 1 10); do
  mkdir -p "$home/extra/echo$i"
  sed -e "s/\"name\": \"echo\"/\"name\": \"echo_$i\"/" -e "s/\"name\": \"echo_sensitive\"/\"name\": \"echo_sensitive_$i\"/" \
    plugins/echo/manifest.json > "$home/extra/echo$i/manifest.json"
done
printf '[core]\nlog_level = "warn"\n[groups.bench]\ntools = ["*"]\n[plugins]\ndirs = ["%s"]\n' "$home/extra" > "$home/config.toml"
CARAPACE_BUNDLED_PLUGINS= "$carapace" --home "$home" start 2>"$home/core.log" &
for _ in $(seq 200); do "$carapace" --home "$home" status >/dev/null 2>&1 && break; sleep 0.05; done
sleep 1
pid=$(cat "$home/run/carapace.pid")
echo "plugins running: $("$carapace" --home "$home" status --json | python3 -c 'import json,sys; print(sum(p["state"]=="running" for p in json.load(sys.stdin)["plugins"]))')"
awk '/VmRSS|RssAnon|RssFile/ {printf "%s %s kB  ", $1, $2} END {print ""}' "/proc/$pid/status"
