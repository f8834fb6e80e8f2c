# Rootless docker: its socket is %t/docker.sock. The unit expands %t; the loader script reads
# $XDG_RUNTIME_DIR, and hands skopeo the socket (its docker-daemon: ignores DOCKER_HOST).
# check: "Environment=DOCKER_HOST=unix://%t/docker.sock" in d["systemdUnits"]["carapace.service"]
# check: 'socket="$XDG_RUNTIME_DIR"/' in d["imageLoad_text"] and "docker.sock" in d["imageLoad_text"] and "%t" not in d["imageLoad_text"]
# check: '--dest-daemon-host "unix://$socket" nix:' in d["imageLoad_text"] and 'export DOCKER_HOST="unix://$socket"' in d["imageLoad_text"]
{ services.carapace = { enable = true; engine = "docker"; engineSocket = "%t/docker.sock"; groups.main.tools = [ "*" ]; }; }
