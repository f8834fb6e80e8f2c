# Without CONTAINER_HOST the podman client would try to run podman itself, rootless, as the
# service's user; the core must reach the rootful service through its socket.
# expect: services.carapace.engineSocket is null, but with podman
{ services.carapace = { enable = true; engineSocket = null; }; }
