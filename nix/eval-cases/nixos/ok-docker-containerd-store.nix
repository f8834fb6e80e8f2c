# docker kept on its containerd image store (overriding the module's default): the image ID it reports is a
# manifest digest it makes at load time, so the user pins that ID by hand (as the loader's
# error says); the layers are still pinned from the build, and the loader checks the hand pin.
# check: d["dockerDaemonSettings"] == {"features": {"containerd-snapshotter": True}} and d["virtualisation"]["docker"] is True
# check: toml["runtime"]["image"] == "sha256:" + "cd" * 32 and ".runtime.image_layers = $layers[0]" in d["configBuild"]
# check: "image-id" not in d["configBuild"] and "want=" + "cd" * 32 in d["imageLoad_text"]
# check: "select(.RootFS.Layers == $built[0])" in d["imageLoad_text"] and "containerd-snapshotter" in d["imageLoad_text"]
{
  virtualisation.docker.daemon.settings.features.containerd-snapshotter = true;
  services.carapace = {
    enable = true;
    engine = "docker";
    groups.main.tools = [ "*" ];
    settings.runtime.image = "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
  };
}
