# macOS with a Linux image built by a Linux builder, loaded into Docker Desktop's daemon;
# its digest comes with it (passthru.digest) and pins runtime.image.
# platform: darwin
# check: "-carapace-image-load || echo" in d["launcher_text"] and d["launcher_text"].rstrip().endswith("start")
# check: "ref=carapace-agent:" in d["imageLoad_text"] and '"docker-daemon:$ref"' in d["imageLoad_text"]
# check: "socket=/Users/alice/.docker/run/docker.sock" in d["imageLoad_text"] and '--dest-daemon-host "unix://$socket" nix:' in d["imageLoad_text"]
# check: 'export DOCKER_HOST="unix://$socket"' in d["imageLoad_text"] and "-docker-client-28.3.0/bin/docker" in d["imageLoad_text"]
# check: d["launchd"]["carapace"]["EnvironmentVariables"]["DOCKER_HOST"] == "unix:///Users/alice/.docker/run/docker.sock"
# check: "image-id" in d["configBuild"]
{ pkgs, ... }: {
  services.carapace = {
    enable = true;
    engineSocket = "/Users/alice/.docker/run/docker.sock";
    image.package = pkgs.carapace-agent-image;
    groups.main.tools = [ "*" ];
  };
}
