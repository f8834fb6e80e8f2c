#!/usr/bin/env bash
# The memory plugin's search, store and brief in the handler (library calls, no
# process hop), on disk under target/, at 5k and 100k entries.
# Usage: bench/memory.sh [SIZES...]   (default: 5000 100000)
# Targets at 100k: search p50 <= 2 ms, p99 <= 10 ms; store p50 <= 1 ms; brief <= 20 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p carapace-plugin-memory --bench memory -- "$@"
