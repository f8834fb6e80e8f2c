# macOS: a launchd agent whose launcher copies each secret into a private directory.
# platform: darwin
# check: list(d["launchd"]) == ["carapace"] and d["systemdUnits"] == {}
# check: d["launchd"]["carapace"]["KeepAlive"] == {"SuccessfulExit": False} and d["launchd"]["carapace"]["RunAtLoad"] is True
# check: 'credential "$(getconf DARWIN_USER_TEMP_DIR)"/agenix/anthropic model.anthropic_api_key' in d["launcher_text"]
# check: "credential /Users/alice/.config/sops-nix/secrets/weather weather.api_key" in d["launcher_text"]
# check: 'export CREDENTIALS_DIRECTORY="$creds"' in d["launcher_text"] and "umask 077" in d["launcher_text"]
# check: d["launcher_text"].rstrip().endswith('start') and "skopeo" not in d["launcher_text"]
# check: toml["runtime"]["engine"] == "docker" and "DOCKER_HOST" not in d["launchd"]["carapace"]["EnvironmentVariables"]
{ pkgs, ... }: {
  services.carapace = {
    enable = true;
    credentials.anthropic_api_key = "$(getconf DARWIN_USER_TEMP_DIR)/agenix/anthropic";
    plugins.weather = {
      package = pkgs.carapace-plugin-weather;
      credentials.api_key = "/Users/alice/.config/sops-nix/secrets/weather";
    };
  };
}
