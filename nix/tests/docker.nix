# The agent session test with docker, reached through /run/docker.sock.
args: import ./lib/agent-session.nix { engine = "docker"; } args
