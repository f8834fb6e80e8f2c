# The home-manager options the module touches: home.*, systemd.user.services (rendered as
# home-manager does, INI with repeated keys for lists) and launchd.agents.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
  section = types.attrsOf (types.either types.anything (types.listOf types.anything));
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; };
    home.username = mkOption { type = types.str; default = "alice"; };
    home.homeDirectory = mkOption { type = types.str; default = if isDarwin then "/Users/alice" else "/home/alice"; };
    home.packages = mkOption { type = types.listOf types.package; default = [ ]; };
    systemd.user.services = mkOption { type = types.attrsOf (types.attrsOf section); default = { }; };
    launchd.agents = mkOption {
      type = types.attrsOf (types.submodule {
        options.enable = mkOption { type = types.bool; default = false; };
        options.config = mkOption { type = types.attrsOf types.anything; default = { }; };
      });
      default = { };
    };
    build.systemdUnits = mkOption { type = types.attrsOf types.str; readOnly = true; };
  };
  config.build.systemdUnits = lib.mapAttrs' (n: u: lib.nameValuePair "${n}.service"
    (lib.generators.toINI { listsAsDuplicateKeys = true; } u)) config.systemd.user.services;
}
