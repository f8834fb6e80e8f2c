# Linux with docker: DOCKER_HOST from engineSocket, the image loaded into the daemon.
# check: "Environment=DOCKER_HOST=unix:///run/docker.sock" in d["systemdUnits"]["carapace.service"]
# check: "podman.socket" not in d["systemdUnits"]["carapace.service"]
# check: toml["runtime"]["program"].endswith("-docker-client-28.3.0/bin/docker")
# check: "LoadCredential=model.anthropic_api_key:%t/secrets/anthropic" in d["systemdUnits"]["carapace.service"]
# check: "socket=/run/docker.sock" in d["imageLoad_text"] and '--dest-daemon-host "unix://$socket" nix:' in d["imageLoad_text"]
# check: "DOCKER_HOST" not in d["systemdUnits"]["carapace-image.service"]
{
  services.carapace = {
    enable = true;
    engine = "docker";
    engineSocket = "/run/docker.sock";
    credentials.anthropic_api_key = "%t/secrets/anthropic";
  };
}
