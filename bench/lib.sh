# Shared by the bench scripts (source it): a home whose one group `bench` may
# call every tool at any rate, and a core started on it.

# Writes `$1/config.toml`: group `bench`, every tool, no practical rate limit.
bench_config() {
  cat > "$1/config.toml" <<'TOML'
[core]
log_level = "warn"
[groups.bench]
tools = ["*"]
rate_limit = { per_minute = 1000000000, burst = 1000000000 }
TOML
}

# Starts `$1` (the carapace binary) on home `$2` in the background, logging to
# `$2/core.log`, and waits until it answers; sets core_pid. Variables given
# before the call (CARAPACE_BUNDLED_PLUGINS=..., PATH=...) reach the core.
start_core() {
  "$1" --home "$2" start 2>"$2/core.log" &
  core_pid=$!
  for _ in $(seq 100); do "$1" --home "$2" status >/dev/null 2>&1 && break; sleep 0.05; done
}
