# overlays.default: carapace, carapace-ipc, carapace-agent-image, carapace-agent-image-digest
# and skopeo-nix2container, built with the nixpkgs the overlay is applied to. The image needs
# claude-code, which is unfree: allow it (nixpkgs.config.allowUnfreePredicate) to build it.
{ crane, nix2container }:
final: _prev:
let
  built = import ./packages.nix { pkgs = final; inherit crane; };
  n2c = import nix2container { pkgs = final; };
  agent = final.callPackage ./agent-image.nix {
    inherit (n2c) nix2container skopeo-nix2container;
    ipc = built.ipc;
  };
in
{
  carapace = built.carapace;
  carapace-ipc = built.ipc;
  carapace-agent-image = agent.image;
  carapace-agent-image-digest = agent.digest;
  inherit (n2c) skopeo-nix2container;
}
