#!/usr/bin/env bash
# calendar_list_events against a local radicale 3.9: a month with 200 events and a
# year with 1,000 (some recurring), whole call and the server/plugin split.
# Usage: bench/calendar.sh (needs `pip install radicale==3.9.0`).
# Target: a year with 1,000 events, p50 <= 150 ms (issue 17).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p carapace-plugin-calendar --bench calendar
