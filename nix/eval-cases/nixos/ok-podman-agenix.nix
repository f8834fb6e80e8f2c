# The documented minimal NixOS setup: podman, the model key from agenix, the bundled echo
# plugin, a third-party plugin with a sops-nix secret.
# check: d["unit"]["serviceConfig"]["DynamicUser"] is True
# check: d["unit"]["serviceConfig"]["ProtectSystem"] == "strict"
# check: d["unit"]["serviceConfig"]["CapabilityBoundingSet"] == [""]
# check: d["unit"]["serviceConfig"]["SupplementaryGroups"] == ["podman"]
# check: d["unit"]["serviceConfig"]["Group"] == "carapace-agent"
# check: sorted(d["unit"]["serviceConfig"]["LoadCredential"]) == ["model.anthropic_api_key:/run/agenix/anthropic", "weather.api_key:/run/secrets/carapace/weather"]
# check: d["unit"]["environment"]["CONTAINER_HOST"] == "unix:///run/podman/podman.sock"
# check: "podman.socket" in d["unit"]["requires"]
# check: d["virtualisation"] == {"podman": True, "docker": False}
# check: d["users"]["groups"]["carapace-agent"]["gid"] == 100000
# check: "carapace" not in d["users"]["users"]
# check: toml["runtime"]["engine"] == "podman" and toml["runtime"]["program"].endswith("/bin/podman")
# check: toml["groups"]["main"] == {"tools": ["*"]}
# check: toml["groups"]["limited"]["rate_limit"] == {"per_minute": 30, "burst": 5}
# check: toml["plugins"]["echo"] == {"enabled": True, "config": {}, "groups": ["main"]}
# check: toml["plugins"]["weather"]["config"] == {"city": "Lisbon"}
# check: toml["plugins"]["telegram"] == {"enabled": False}
# check: len(toml["plugins"]["dirs"]) == 1 and toml["plugins"]["dirs"][0].endswith("-carapace-plugins")
# check: "image" not in toml["runtime"] and "image-id" in d["configBuild"] and "check-config" in d["configBuild"]
# check: d["imageUnit"]["requiredBy"] == ["carapace.service"] and d["imageUnit"]["serviceConfig"]["ExecStart"].endswith("-carapace-image-load")
# check: "ref=localhost/carapace-agent:" in d["imageLoad_text"] and "--insecure-policy copy" in d["imageLoad_text"] and "nix:/nix/store/" in d["imageLoad_text"] and '"containers-storage:$ref"' in d["imageLoad_text"]
# check: "/bin/podman image inspect" not in d["imageLoad_text"] and 'engine=/nix/store/' in d["imageLoad_text"] and '"$engine" image inspect "$ref"' in d["imageLoad_text"]
# check: "select(.RootFS.Layers == $built[0])" in d["imageLoad_text"] and "-carapace-agent-image-digest/diff-ids.json" in d["imageLoad_text"]
# check: "read -r want < /nix/store/" in d["imageLoad_text"] and "--dest-daemon-host" not in d["imageLoad_text"] and "CONTAINER_HOST" not in d["imageLoad_text"]
# check: "containerd-snapshotter" not in d["imageLoad_text"] and d["dockerDaemonSettings"] == {}
# check: d["unit"]["serviceConfig"]["SystemCallFilter"] == ["@system-service", "@sandbox", "@mount", "~@privileged", "~@resources"] and d["unit"]["serviceConfig"]["RestrictNamespaces"] == ["user", "mnt"]
# check: "--property=DynamicUser=yes" in d["ctl"] and "--property=Group=carapace-agent" in d["ctl"]
{ pkgs, ... }: {
  services.carapace = {
    enable = true;
    credentials.anthropic_api_key = "/run/agenix/anthropic";
    groups.main.tools = [ "*" ];
    groups.limited = { tools = [ "echo" ]; rate_limit = { per_minute = 30; burst = 5; }; };
    plugins.echo.groups = [ "main" ];
    plugins.weather = {
      package = pkgs.carapace-plugin-weather;
      settings.city = "Lisbon";
      credentials.api_key = "/run/secrets/carapace/weather";
    };
  };
}
