# macOS with a Linux image built by a Linux builder, loaded into Docker Desktop's daemon;
# its digest comes with it (passthru.digest) and pins runtime.image.
# platform: darwin
# check: "docker-daemon:carapace-agent:" in d["launcher_text"] and "image inspect carapace-agent:" in d["launcher_text"]
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
