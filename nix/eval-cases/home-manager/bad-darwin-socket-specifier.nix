# platform: darwin
# expect: engineSocket must be an absolute path on macOS
{ services.carapace = { enable = true; engineSocket = "%t/podman/podman.sock"; }; }
