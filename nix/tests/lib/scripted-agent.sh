# A scripted agent run by bash in the real agent image (set as agent.command by the VM tests).
# It speaks Claude Code's stream-json, calls two tools through the real `ipc`, and copies all
# it can read that could hold a secret (every process's environment and command line, its
# mounts, its network interfaces, every file under the places mounted or writable) into the
# workspace for the test to search on the host. It knows no secret itself.
echo '{"type":"system","subtype":"init","model":"scripted","tools":["Bash"]}'
fail() {
  echo "{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,\"result\":\"$1 failed\"}"
  exit 1
}
ipc list_tools > /dev/null || fail list_tools
ipc echo '{"text":"hello from the box"}' > /workspace/echo.json || fail echo
{
  for p in /proc/[0-9]*; do
    echo "== process $p: $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"
    tr '\0' '\n' < "$p/environ" 2>/dev/null
  done
  echo "== mountinfo"
  cat /proc/self/mountinfo
  echo "== interfaces"
  ls /sys/class/net
  for d in /workspace /home/agent /etc /run/carapace /tmp; do
    find "$d" -type f ! -name scan.txt 2>/dev/null | while read -r f; do
      echo "== file $f"
      cat "$f" 2>/dev/null
    done
  done
} > /workspace/scan.txt 2>&1
ls /sys/class/net > /workspace/interfaces.txt
echo '{"type":"result","subtype":"success","is_error":false,"result":"scanned"}'
