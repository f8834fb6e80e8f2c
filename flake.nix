{
  description = "Carapace: a personal AI agent in a locked-down container; every credential stays on the host";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # The last release: it accepts nixpkgs >= 25.11 and Nix before 2.31 (crane's unreleased
    # HEAD needs both newer).
    crane.url = "github:ipetkov/crane/v0.23.4";
    nix2container = {
      url = "github:nlewo/nix2container";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, crane, nix2container }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" "aarch64-darwin" ];
      isLinux = lib.hasSuffix "-linux";

      pkgsFor = lib.genAttrs systems (system: import nixpkgs {
        inherit system;
        overlays = [ self.overlays.default ];
        # The agent image carries Claude Code, which nixpkgs marks unfree.
        config.allowUnfreePredicate = pkg: lib.getName pkg == "claude-code";
      });
      # Attribute names depend on the system string only, so listing outputs builds nothing.
      eachSystem = f: lib.genAttrs systems (system: f system pkgsFor.${system});
      packagesFor = system: self.packages.${system} or
        (throw "carapace: no packages for ${system}; systems: ${lib.concatStringsSep ", " systems}");
    in
    {
      overlays.default = import ./nix/overlay.nix { inherit crane nix2container; };

      packages = eachSystem (system: pkgs: {
        inherit (pkgs) carapace skopeo-nix2container;
        default = pkgs.carapace;
      } // lib.optionalAttrs (isLinux system) {
        ipc = pkgs.carapace-ipc;
        agent-image = pkgs.carapace-agent-image;
        agent-image-digest = pkgs.carapace-agent-image-digest;
      });

      apps = eachSystem (system: pkgs: {
        default = {
          type = "app";
          program = lib.getExe pkgs.carapace;
          meta.description = "The carapace command";
        };
      } // lib.optionalAttrs (isLinux system) {
        # `carapace demo` on a throw-away home, with the static ipc beside it.
        demo = {
          type = "app";
          program = "${pkgs.writeShellScript "carapace-demo" ''
            export CARAPACE_IPC_BIN=${lib.getExe pkgs.carapace-ipc}
            exec ${lib.getExe pkgs.carapace} demo "$@"
          ''}";
          meta.description = "Carapace at work on a throw-away home";
        };
      });

      checks = eachSystem (system: pkgs: import ./nix/checks.nix { inherit lib system pkgs self crane; });

      devShells = eachSystem (system: pkgs: {
        default = (crane.mkLib pkgs).devShell {
          checks = { inherit (self.checks.${system}) clippy nextest; };
          packages = with pkgs; [ cargo-nextest taplo nixfmt ]
            ++ lib.optionals stdenv.hostPlatform.isLinux [ podman python3 ];
        };
      });

      formatter = eachSystem (_: pkgs: pkgs.nixfmt);

      nixosModules.default = {
        _class = "nixos";
        imports = [ ./modules/nixos.nix (import ./nix/module-defaults.nix packagesFor) ];
      };
      nixosModules.carapace = self.nixosModules.default;

      homeManagerModules.default = {
        _class = "homeManager";
        imports = [ ./modules/home-manager.nix (import ./nix/module-defaults.nix packagesFor) ];
      };
      homeModules.default = self.homeManagerModules.default;
    };
}
