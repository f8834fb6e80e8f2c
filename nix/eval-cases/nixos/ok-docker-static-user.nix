# docker instead of podman, a static system user, the key from sops-nix.
# check: d["unit"]["serviceConfig"]["DynamicUser"] is False and d["unit"]["serviceConfig"]["User"] == "carapace"
# check: d["users"]["users"]["carapace"]["isSystemUser"] is True and d["users"]["users"]["carapace"]["group"] == "carapace-agent"
# check: d["unit"]["serviceConfig"]["SupplementaryGroups"] == ["docker"]
# check: d["unit"]["environment"]["DOCKER_HOST"] == "unix:///run/docker.sock" and "CONTAINER_HOST" not in d["unit"]["environment"]
# check: d["unit"]["requires"] == ["docker.socket"]
# check: d["virtualisation"] == {"podman": False, "docker": True}
# check: toml["runtime"]["engine"] == "docker" and toml["runtime"]["program"].endswith("-docker-28.3.0/bin/docker")
# check: d["imageUnit"]["requires"] == ["docker.service"] and '"docker-daemon:$ref"' in d["imageLoad_text"] and "ref=carapace-agent:" in d["imageLoad_text"]
# check: "socket=/run/docker.sock" in d["imageLoad_text"] and 'export DOCKER_HOST="unix://$socket"' in d["imageLoad_text"]
# check: '--dest-daemon-host "unix://$socket" nix:' in d["imageLoad_text"] and "-docker-28.3.0/bin/docker" in d["imageLoad_text"]
# check: "containerd-snapshotter" in d["imageLoad_text"] and d["dockerDaemonSettings"] == {"features": {"containerd-snapshotter": False}}
# check: d["unit"]["serviceConfig"]["LoadCredential"] == ["model.anthropic_oauth_token:/run/secrets/carapace/anthropic"]
# check: "DynamicUser" not in d["ctl"] and "--property=SupplementaryGroups=docker" in d["ctl"]
{
  services.carapace = {
    enable = true;
    engine = "docker";
    dynamicUser = false;
    credentials.anthropic_oauth_token = "/run/secrets/carapace/anthropic";
    groups.main.tools = [ "*" ];
  };
}
