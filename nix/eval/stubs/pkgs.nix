# A fake `pkgs` for evaluating the modules offline (Nix 2.8 and nixpkgs lib only).
# Derivations are real `derivation` values: instantiable, never built, so string contexts,
# lib.getExe', lib.isDerivation and types.package behave as with nixpkgs.
{ lib, system ? "x86_64-linux", isDarwin ? false }:
let
  fakeDrv = { name, meta ? { }, passthru ? { }, ... }@args:
    let
      drv = derivation ({
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" "echo offline-harness-stub > $out" ];
      } // builtins.removeAttrs args [ "meta" "passthru" "name" ]);
    in
    drv // passthru // { inherit meta passthru; };
  runCommand = name: env: buildCommand: fakeDrv ({ inherit name buildCommand; } // env);
  tool = name: mainProgram: fakeDrv { inherit name; meta.mainProgram = mainProgram; };
  platform = { inherit system isDarwin; isLinux = !isDarwin; };

  # Mimics nix/agent-image.nix: an image JSON whose store hash is the default tag, carrying
  # its digest derivation.
  agentImageDigest = fakeDrv { name = "carapace-agent-image-digest"; };
  agentImage =
    let
      image = fakeDrv {
        name = "image-carapace-agent.json";
        passthru = {
          imageName = "carapace-agent";
          imageTag = builtins.head (lib.splitString "-" (baseNameOf (builtins.unsafeDiscardStringContext image.outPath)));
          digest = agentImageDigest;
        };
      };
    in
    image;
in
{
  inherit lib system runCommand;
  stdenv = {
    hostPlatform = platform;
    buildPlatform = platform // { canExecute = p: p.system == system; };
    inherit isDarwin;
    isLinux = !isDarwin;
  };
  writeText = name: text: runCommand name { inherit text; passAsFile = [ "text" ]; } "cp $textPath $out";
  writeShellScript = name: text: runCommand name { inherit text; } text;
  writeShellScriptBin = name: text: runCommand name { inherit text; meta.mainProgram = name; } text;
  # The type verbatim from nixpkgs pkgs/pkgs-lib/formats.nix (toml); generation is a build.
  formats.toml = { }: {
    type =
      let
        valueType = lib.types.oneOf [
          lib.types.bool lib.types.int lib.types.float lib.types.str lib.types.path
          (lib.types.attrsOf valueType) (lib.types.listOf valueType)
        ] // { description = "TOML value"; };
      in
      valueType;
  };

  carapace = tool "carapace-0.1.0" "carapace";
  carapace-ipc = tool "carapace-ipc-0.1.0" "ipc";
  carapace-agent-image = agentImage;
  carapace-agent-image-digest = agentImageDigest;
  carapace-plugin-weather = fakeDrv { name = "carapace-plugin-weather-1.0.0"; };
  skopeo-nix2container = tool "skopeo-1.20.0" "skopeo";
  jq = tool "jq-1.8.1" "jq";
  remarshal = tool "remarshal-1.2.0" "remarshal";
  coreutils = tool "coreutils-9.7" "coreutils";
  systemd = tool "systemd-258" "systemctl";
  podman = tool "podman-5.6.0" "podman";
  docker = tool "docker-28.3.0" "docker";
  docker-client = tool "docker-client-28.3.0" "docker";
}
