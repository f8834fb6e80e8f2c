# podman configured by the host itself; no image from the flake (loaded by hand).
# check: d["virtualisation"]["podman"] is True and d["imageUnit"] is None
# check: "image" not in toml.get("runtime", {}) and "image-id" not in d["configBuild"]
# check: d["warnings"] == [] and d["imageLoad_text"] == "" and d["dockerDaemonSettings"] == {}
{
  virtualisation.podman.enable = true;
  services.carapace = {
    enable = true;
    manageEngine = false;
    image.package = null;
    groups.main.tools = [ "echo" ];
  };
}
