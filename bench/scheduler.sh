#!/usr/bin/env bash
# Scheduled instant -> task.triggered published by the real scheduler plugin
# process (release build, SQLite on disk, system clock) with 10,000 tasks stored.
# Usage: bench/scheduler.sh. Target: p50 <= 50 ms (issue 16).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p carapace-plugin-scheduler --bench scheduler
