#!/usr/bin/env bash
# calendar_list_events against a local radicale 3.9: a month with 200 events and a
# year with 1,000 (some recurring), whole call and the server/plugin split.
# Usage: bench/calendar.sh (needs `pip install radicale==3.9.0`).
# Target: a year with 1,000 events, p50 <= 150 ms (issue 17).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p carapace-plugin-calendar --bench calendar

# Idle RSS of the real plugin process (release build) after initialize
# (discovery done) and after one calendar_list_events, against a radicale.
cargo build --quiet --release -p carapace-plugin-calendar --bin carapace-plugin-calendar
python3 - <<'PY'
import json, os, socket, subprocess, sys, tempfile, time
d = tempfile.mkdtemp(prefix="calrss-")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
open(f"{d}/users", "w").write("alice:benchpassword\n")
os.makedirs(f"{d}/col/collection-root/alice/work")
open(f"{d}/col/collection-root/alice/work/.Radicale.props", "w").write('{"tag": "VCALENDAR", "D:displayname": "Work"}')
open(f"{d}/config", "w").write(f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {d}/users\nhtpasswd_encryption = plain\n[storage]\nfilesystem_folder = {d}/col\n[web]\ntype = none\n")
rad = subprocess.Popen([sys.executable, "-m", "radicale", "--config", f"{d}/config"], stderr=subprocess.DEVNULL)
for _ in range(200):
    try: socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError: time.sleep(0.02)
os.makedirs(f"{d}/cred"); open(f"{d}/cred/password", "w").write("benchpassword\n")
p = subprocess.Popen(["target/release/carapace-plugin-calendar"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def ask(i, method, params):
    p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n").encode()); p.stdin.flush()
    return json.loads(p.stdout.readline())
def rss():
    return {k: v.split()[0] for k, v in (l.split(":", 1) for l in open(f"/proc/{p.pid}/status")) if k in ("VmRSS", "RssAnon", "RssFile")}
ask(1, "initialize", {"plugin": "calendar", "version": "0.1.0", "data_dir": d, "credentials_dir": f"{d}/cred",
                      "config": {"url": f"http://127.0.0.1:{port}/", "username": "alice", "time_zone": "Europe/Berlin"}})
time.sleep(0.5); print("calendar plugin idle after initialize (kB):", rss())
env = {"group": "bench", "payload": {"arguments": {}}}
ask(2, "tool/call", {"tool": "calendar_list_events", "envelope": {**env, "payload": {"arguments": {"from": "2026-12-01", "to": "2026-12-31"}}}})
time.sleep(0.5); print("after one calendar_list_events (kB):", rss())
p.stdin.close(); p.wait(5); rad.kill(); rad.wait()
PY
