# Linux: a systemd user unit; agenix-HM's "${XDG_RUNTIME_DIR}/..." becomes %t/...
# check: "LoadCredential=model.anthropic_api_key:%t/agenix/anthropic" in d["systemdUnits"]["carapace.service"]
# check: "LoadCredential=weather.api_key:/home/alice/.config/sops-nix/secrets/weather" in d["systemdUnits"]["carapace.service"]
# check: "Environment=CONTAINER_HOST=unix://%t/podman/podman.sock" in d["systemdUnits"]["carapace.service"]
# check: "Environment=CARAPACE_HOME=/home/alice/.carapace" in d["systemdUnits"]["carapace.service"]
# check: "ExecStart=" in d["systemdUnits"]["carapace.service"] and "--home /home/alice/.carapace start" in d["systemdUnits"]["carapace.service"]
# check: d["userServices"]["carapace"]["Install"]["WantedBy"] == ["default.target"]
# check: d["userServices"]["carapace"]["Service"]["NoNewPrivileges"] is True and d["userServices"]["carapace"]["Service"]["UMask"] == "0077"
# check: d["userServices"]["carapace"]["Unit"]["Requires"] == ["carapace-image.service"]
# check: "carapace-image.service" in d["systemdUnits"] and d["launchd"] == {}
# check: d["userServices"]["carapace-image"]["Service"]["Environment"] == ["PATH=/run/wrappers/bin:/usr/bin:/bin"]
# check: '"containers-storage:$ref"' in d["imageLoad_text"] and "ref=localhost/carapace-agent:" in d["imageLoad_text"] and "CONTAINER_HOST" not in d["imageLoad_text"]
# check: d["userServices"]["carapace"]["Service"]["SystemCallFilter"] == ["@system-service", "@sandbox", "@mount", "~@privileged", "~@resources"]
# check: toml["runtime"]["engine"] == "podman" and toml["plugins"]["weather"]["enabled"] is True
{ pkgs, ... }: {
  services.carapace = {
    enable = true;
    credentials.anthropic_api_key = "\${XDG_RUNTIME_DIR}/agenix/anthropic";
    groups.main.tools = [ "*" ];
    plugins.weather = {
      package = pkgs.carapace-plugin-weather;
      credentials.api_key = "/home/alice/.config/sops-nix/secrets/weather";
    };
  };
}
