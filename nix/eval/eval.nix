# Evaluates services.carapace offline with nixpkgs lib's real evalModules (Nix 2.8 is enough):
#   nix-instantiate --eval --strict --json -E \
#     'import ./nix/eval/eval.nix { nixlib = <nixpkgs.lib>/lib; case = ./nix/eval-cases/nixos/ok-minimal.nix; }'
# Failed assertions throw, as nixos/modules/system/activation/top-level.nix does.
{ nixlib, case, class ? "nixos", isDarwin ? false }:
let
  lib = import nixlib;
  isNixOS = class == "nixos";
  system = if isDarwin then "aarch64-darwin" else "x86_64-linux";
  pkgs = import ./stubs/pkgs.nix { inherit lib system isDarwin; };
  toml = import ./toml.nix { inherit lib; };

  # What the flake's packages.<system> would hold (no image on darwin).
  packagesFor = _: {
    inherit (pkgs) carapace skopeo-nix2container;
  } // lib.optionalAttrs (!isDarwin) {
    agent-image = pkgs.carapace-agent-image;
  };

  eval = lib.evalModules {
    class = if isNixOS then "nixos" else "homeManager";
    modules = [
      (if isNixOS then ./stubs/nixos.nix else ./stubs/home-manager.nix)
      (if isNixOS then ../../modules/nixos.nix else ../../modules/home-manager.nix)
      (import ../module-defaults.nix packagesFor)
      case
      { _module.args.pkgs = pkgs; }
    ];
  };
  c = eval.config;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
  checked =
    if failed != [ ] then throw "\nFailed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}"
    else c;
  cfg = checked.services.carapace;
  configJSON = builtins.fromJSON (builtins.unsafeDiscardStringContext cfg.configFile.settings);
  # The .drv paths a string refers to (read back with `nix show-derivation`).
  drvsOf = s: builtins.attrNames (builtins.getContext s);
in
{
  warnings = checked.warnings;
  configJSON = configJSON;
  configToml = toml.toTOML configJSON;
  configBuild = cfg.configFile.buildCommand;
  configFileDrv = cfg.configFile.drvPath;
  # What config.toml refers to (the plugin folder directory's build among them).
  settingsDrvs = drvsOf cfg.configFile.settings;
  # The shared image loader's script (empty when nothing is loaded).
  imageLoadDrvs = if cfg.internal.imageLoader == null then [ ] else drvsOf "${cfg.internal.imageLoader}";
} // (if isNixOS then {
  unit = checked.systemd.services.carapace;
  unitText = checked.systemd.units."carapace.service".text;
  imageUnit = checked.systemd.services.carapace-image or null;
  dockerDaemonSettings = checked.virtualisation.docker.daemon.settings;
  ctl = cfg.ctlPackage.text;
  users = { inherit (checked.users) users groups; };
  virtualisation = lib.mapAttrs (_: v: v.enable) checked.virtualisation;
  systemPackages = map (p: p.name) checked.environment.systemPackages;
} else {
  systemdUnits = checked.build.systemdUnits;
  userServices = checked.systemd.user.services;
  launchd = lib.mapAttrs (_: a: a.config) (lib.filterAttrs (_: a: a.enable) checked.launchd.agents);
  launcherDrvs = if isDarwin then drvsOf (builtins.head checked.launchd.agents.carapace.config.ProgramArguments) else [ ];
})
