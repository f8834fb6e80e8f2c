# The agent session test with rootful podman, reached through /run/podman/podman.sock.
args: import ./lib/agent-session.nix { engine = "podman"; } args
