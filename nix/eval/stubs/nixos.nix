# The NixOS options the module touches, declared loosely enough to accept real definitions
# and strictly enough to catch typos and wrong types. systemd.units.<name>.text is rendered
# like nixos/lib/systemd-lib.nix does (one Key=value line per list element).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  atom = types.oneOf [ types.bool types.int types.str types.path types.package ];
  unitOption = types.either atom (types.listOf atom);
  toOption = x: if x == true then "true" else if x == false then "false" else toString x;
  attrsToSection = as: lib.concatStrings (lib.concatLists (lib.mapAttrsToList
    (name: value: map (x: "${name}=${toOption x}\n") (if lib.isList value then value else [ value ])) as));
  serviceOpts = { config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      description = mkOption { type = types.str; default = ""; };
      wantedBy = mkOption { type = types.listOf types.str; default = [ ]; };
      requiredBy = mkOption { type = types.listOf types.str; default = [ ]; };
      before = mkOption { type = types.listOf types.str; default = [ ]; };
      after = mkOption { type = types.listOf types.str; default = [ ]; };
      wants = mkOption { type = types.listOf types.str; default = [ ]; };
      requires = mkOption { type = types.listOf types.str; default = [ ]; };
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      path = mkOption { type = types.listOf (types.either types.package types.str); default = [ ]; };
      environment = mkOption { type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ])); default = { }; };
      unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      serviceConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      script = mkOption { type = types.lines; default = ""; };
    };
    config.unitConfig = lib.mkMerge [
      (lib.mkIf (config.description != "") { Description = config.description; })
      (lib.mkIf (config.after != [ ]) { After = lib.concatStringsSep " " config.after; })
      (lib.mkIf (config.before != [ ]) { Before = lib.concatStringsSep " " config.before; })
      (lib.mkIf (config.wants != [ ]) { Wants = lib.concatStringsSep " " config.wants; })
      (lib.mkIf (config.requires != [ ]) { Requires = lib.concatStringsSep " " config.requires; })
    ];
  };
  serviceToUnit = def: ''
    [Unit]
    ${attrsToSection def.unitConfig}
    [Service]
    ${lib.concatStrings (lib.mapAttrsToList (n: v: "Environment=\"${n}=${toString v}\"\n")
      (lib.filterAttrs (_: v: v != null) def.environment))}${attrsToSection def.serviceConfig}'';
  freeform = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; internal = true; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; internal = true; };
    systemd.package = mkOption { type = types.package; default = pkgs.systemd; };
    systemd.services = mkOption { type = types.attrsOf (types.submodule serviceOpts); default = { }; };
    systemd.units = mkOption { type = types.attrsOf (types.attrsOf types.anything); default = { }; };
    users.users = mkOption { type = freeform; default = { }; };
    users.groups = mkOption {
      type = types.attrsOf (types.submodule {
        freeformType = types.attrsOf types.anything;
        options.gid = mkOption { type = types.nullOr types.int; default = null; };
      });
      default = { };
    };
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
    virtualisation.podman.enable = mkOption { type = types.bool; default = false; };
    virtualisation.podman.package = mkOption { type = types.package; default = pkgs.podman; };
    virtualisation.docker.enable = mkOption { type = types.bool; default = false; };
    virtualisation.docker.package = mkOption { type = types.package; default = pkgs.docker; };
    # daemon.json, freeform in NixOS.
    virtualisation.docker.daemon.settings = mkOption {
      type = types.submodule { freeformType = types.attrsOf (types.attrsOf types.anything); };
      default = { };
    };
  };
  config.systemd.units = lib.mapAttrs' (n: s: lib.nameValuePair "${n}.service" {
    inherit (s) wantedBy requiredBy enable;
    text = serviceToUnit s;
  }) (lib.filterAttrs (_: s: s.enable) config.systemd.services);
}
