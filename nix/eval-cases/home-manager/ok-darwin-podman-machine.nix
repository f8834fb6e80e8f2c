# macOS with podman machine: the engine runs in a VM, so the image goes through its
# Docker-compatible API socket (docker-daemon:), never containers-storage on the Mac.
# platform: darwin
# check: '"docker-daemon:$ref"' in d["imageLoad_text"] and "containers-storage" not in d["imageLoad_text"]
# check: "ref=carapace-agent:" in d["imageLoad_text"] and "localhost/" not in d["imageLoad_text"]
# check: 'export CONTAINER_HOST="unix://$socket"' in d["imageLoad_text"] and '--dest-daemon-host "unix://$socket" nix:' in d["imageLoad_text"]
# check: "-podman-5.6.0/bin/podman" in d["imageLoad_text"] and "containerd-snapshotter" not in d["imageLoad_text"]
# check: d["launchd"]["carapace"]["EnvironmentVariables"]["CONTAINER_HOST"] == "unix:///Users/alice/.local/share/containers/podman/machine/podman.sock"
{ pkgs, ... }: {
  services.carapace = {
    enable = true;
    engine = "podman";
    engineSocket = "/Users/alice/.local/share/containers/podman/machine/podman.sock";
    image.package = pkgs.carapace-agent-image;
    groups.main.tools = [ "*" ];
  };
}
