# The home-manager module imported into a NixOS configuration.
# expect: homeManager
{ imports = [ ../../../modules/home-manager.nix ]; }
