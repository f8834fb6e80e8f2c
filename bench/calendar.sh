#!/usr/bin/env bash
# calendar_list_events against a local radicale 3.9: a month with 200 events and a
# year with 1,000 (some recurring), whole call and the server/plugin split.
# Usage: bench/calendar.sh (needs `pip install radicale==3.9.0`).
# Target: a year with 1,000 events, p50 <= 150 ms (issue 17).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p carapace-plugin-calendar --bench calendar

# Idle RSS of the real plugin process (release build) after initialize
# (discovery done), after one month's calendar_list_events, and after a year's
# (1,000 events) asked twice (the window then kept), against a radicale; the same with
# kept_windows = 0.
cargo build --quiet --release -p carapace-plugin-calendar --bin carapace-plugin-calendar
python3 - <<'PY'
import json, os, socket, subprocess, sys, tempfile, time
d = tempfile.mkdtemp(prefix="calrss-")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
open(f"{d}/users", "w").write("alice:benchpassword\n")
os.makedirs(f"{d}/col/collection-root/alice/work")
open(f"{d}/col/collection-root/alice/work/.Radicale.props", "w").write('{"tag": "VCALENDAR", "D:displayname": "Work"}')
for i in range(1000):
    day = time.gmtime(1796083200 + ((i * 7919) % 365) * 86400)
    ds = time.strftime("%Y%m%d", day)
    rule = "RRULE:FREQ=WEEKLY;BYDAY=MO,WE\r\n" if i % 10 == 0 else ""
    open(f"{d}/col/collection-root/alice/work/e{i}.ics", "w").write(
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e{i}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"SUMMARY:Meeting {i} about the quarterly numbers\r\nLOCATION:Room {i % 40}\r\nDESCRIPTION:Agenda: item one, item two, item three.\r\n"
        f"DTSTART:{ds}T100000Z\r\nDTEND:{ds}T110000Z\r\n{rule}END:VEVENT\r\nEND:VCALENDAR\r\n")
open(f"{d}/config", "w").write(f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {d}/users\nhtpasswd_encryption = plain\n[storage]\nfilesystem_folder = {d}/col\n[web]\ntype = none\n")
rad = subprocess.Popen([sys.executable, "-m", "radicale", "--config", f"{d}/config"], stderr=subprocess.DEVNULL)
for _ in range(200):
    try: socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError: time.sleep(0.02)
os.makedirs(f"{d}/cred"); open(f"{d}/cred/password", "w").write("benchpassword\n")
def run(extra):
    global p
    p = subprocess.Popen(["target/release/carapace-plugin-calendar"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    ask(1, "initialize", {"plugin": "calendar", "version": "0.1.0", "data_dir": d, "credentials_dir": f"{d}/cred",
                          "config": {"url": f"http://127.0.0.1:{port}/", "username": "alice", "time_zone": "Europe/Berlin", **extra}})
    time.sleep(0.5); print(extra or "default", "idle after initialize (kB):", rss())
    env = {"group": "bench", "payload": {"arguments": {}}}
    ask(2, "tool/call", {"tool": "calendar_list_events", "envelope": {**env, "payload": {"arguments": {"from": "2026-12-01", "to": "2026-12-31"}}}})
    time.sleep(0.5); print(extra or "default", "after a month's calendar_list_events (kB):", rss())
    # Asked twice: a window is kept from its second asking.
    for i in (3, 4):
        ask(i, "tool/call", {"tool": "calendar_list_events", "envelope": {**env, "payload": {"arguments": {"from": "2026-12-01", "to": "2027-11-30"}}}})
    time.sleep(0.5); print(extra or "default", "after a year's, 1,000 events, asked twice (kB):", rss())
    p.stdin.close(); p.wait(5)
def ask(i, method, params):
    p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n").encode()); p.stdin.flush()
    return json.loads(p.stdout.readline())
def rss():
    return {k: v.split()[0] for k, v in (l.split(":", 1) for l in open(f"/proc/{p.pid}/status")) if k in ("VmRSS", "RssAnon", "RssFile")}
run({})
run({"kept_windows": 0})
rad.kill(); rad.wait()
PY
