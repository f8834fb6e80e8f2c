# checks.<system>: clippy, rustfmt, the test suite, the modules evaluated against the real
# nixpkgs (the unit file and its checked config.toml built), every offline case, and on Linux
# the NixOS VM tests found in nix/tests/*.nix.
{ lib, system, pkgs, self, crane }:
let
  built = import ./packages.nix { inherit pkgs crane; };
  inherit (built) craneLib commonArgs cargoArtifacts src;

  rust = {
    clippy = craneLib.cargoClippy (commonArgs // {
      inherit cargoArtifacts;
      cargoClippyExtraArgs = "--workspace --all-targets -- --deny warnings";
    });
    fmt = craneLib.cargoFmt { inherit src; pname = "carapace"; inherit (commonArgs) version; };
    # Container tests skip without an engine (none in the sandbox); the rest run here.
    nextest = craneLib.cargoNextest (commonArgs // {
      inherit cargoArtifacts;
      cargoNextestExtraArgs = "--workspace --no-fail-fast";
      nativeCheckInputs = with pkgs; [ python3 util-linux ];
    });
  };

  # The NixOS module in a real (container-boot) system: builds carapace.service, which
  # references config.toml, which `carapace check-config` has checked.
  moduleEval = (lib.nixosSystem {
    modules = [
      self.nixosModules.default
      {
        boot.isContainer = true;
        system.stateVersion = "26.05";
        nixpkgs.pkgs = pkgs;
        services.carapace = {
          enable = true;
          groups.main.tools = [ "*" ];
          credentials.anthropic_api_key = "/run/agenix/anthropic";
        };
      }
    ];
  }).config.systemd.units."carapace.service".unit;

  # nix/eval-cases against the real nixpkgs lib: ok-* evaluate, bad-* fail.
  moduleCases = pkgs.writeText "carapace-module-cases"
    (lib.concatLines (import ./eval/all-cases.nix { nixlib = "${pkgs.path}/lib"; }));

  vmTests = lib.mapAttrs'
    (file: _: lib.nameValuePair "vm-${lib.removeSuffix ".nix" file}"
      (import (./tests + "/${file}") { inherit pkgs self; }))
    (lib.filterAttrs (n: t: t == "regular" && lib.hasSuffix ".nix" n) (builtins.readDir ./tests));
in
rust // { module-cases = moduleCases; }
// lib.optionalAttrs (lib.hasSuffix "-linux" system) ({ module-eval = moduleEval; } // vmTests)
