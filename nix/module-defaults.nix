# The flake's packages as the modules' defaults (services.carapace.package, image, skopeo).
# Takes `system -> packages` so that importing it never depends on `pkgs` (imports may not).
packagesFor:
{ lib, pkgs, ... }:
let
  packages = packagesFor pkgs.stdenv.hostPlatform.system;
in
{
  services.carapace = {
    package = lib.mkDefault packages.carapace;
    # Linux only: on macOS the image is a Linux derivation (see docs/install.md).
    # The image carries its digest (image.digest defaults to its passthru.digest).
    image.package = lib.mkDefault (packages.agent-image or null);
    skopeo = lib.mkDefault (packages.skopeo-nix2container or null);
  };
}
