#!/usr/bin/env bash
# email_search and email_read on a 10,000-message INBOX against a local dovecot
# (the plugin on the SDK harness), the plugin binary's idle RSS, then
# `ipc email_search '{}'` end to end through the release core, the confined plugin
# process and the static ipc, beside `ipc echo` and `ipc get_session_info`.
# Usage: bench/email.sh (needs dovecot-imapd, openssl and `pip install aiosmtpd`).
# Target (issue 17): email_search through ipc, p50 <= 100 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin carapace
cargo build --quiet --release -p carapace-plugin-email -p carapace-plugin-echo
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --quiet -p carapace-ipc --bin ipc --profile ipc --target x86_64-unknown-linux-musl
PATH=$PWD/target/release:$PATH \
  EMAIL_BENCH_CORE=$PWD/target/release/carapace \
  EMAIL_BENCH_IPC=$PWD/target/x86_64-unknown-linux-musl/ipc/ipc \
  cargo bench -p carapace-plugin-email --bench email
