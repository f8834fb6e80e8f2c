# The Rust builds. One source and one workspace-wide dependency build (cargoArtifacts) shared
# by the core, clippy and the tests; the static `ipc` gets its own musl dependency build of
# just `-p carapace-ipc`, so musl never compiles the core's dependency tree.
{ pkgs, crane }:
let
  inherit (pkgs) lib stdenv;
  craneLib = crane.mkLib pkgs;
  src = import ./source.nix { inherit lib craneLib; };
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  meta.license = with lib.licenses; [ mit asl20 ];

  commonArgs = {
    inherit src version;
    pname = "carapace";
    strictDeps = true;
    # Release-style build: no source-tree path compiled into the binaries (build.rs).
    CARAPACE_DIST = "1";
    # zmq-sys builds libzmq from source with the C++ compiler (zeromq-src, no cmake); ring
    # builds its assembly with cc. Both come with stdenv.
    buildInputs = lib.optionals stdenv.hostPlatform.isDarwin [ pkgs.libiconv ];
  };

  cargoArtifacts = craneLib.buildDepsOnly (commonArgs // {
    pname = "carapace-workspace";
    cargoExtraArgs = "--locked --workspace";
  });

  carapace = craneLib.buildPackage (commonArgs // {
    inherit cargoArtifacts;
    cargoExtraArgs = "--locked -p carapace -p carapace-plugin-echo -p carapace-plugin-memory -p carapace-plugin-telegram -p carapace-plugin-scheduler -p carapace-plugin-calendar -p carapace-plugin-email";
    # The tests run once, in checks.nextest.
    doCheck = false;
    nativeBuildInputs = [ pkgs.installShellFiles ];
    # Bundled plugins sit at <bin>/../share/carapace/plugins (src/plugins/discover.rs); their
    # handlers beside `carapace`, which the core puts first on a handler's PATH.
    postInstall = ''
      install -Dm0644 plugins/echo/manifest.json $out/share/carapace/plugins/echo/manifest.json
      cp -r plugins/echo/skills $out/share/carapace/plugins/echo/skills
      install -Dm0644 plugins/memory/manifest.json $out/share/carapace/plugins/memory/manifest.json
      cp -r plugins/memory/skills $out/share/carapace/plugins/memory/skills
      install -Dm0644 plugins/telegram/manifest.json $out/share/carapace/plugins/telegram/manifest.json
      cp -r plugins/telegram/skills $out/share/carapace/plugins/telegram/skills
      install -Dm0644 plugins/scheduler/manifest.json $out/share/carapace/plugins/scheduler/manifest.json
      cp -r plugins/scheduler/skills $out/share/carapace/plugins/scheduler/skills
      install -Dm0644 plugins/email/manifest.json $out/share/carapace/plugins/email/manifest.json
      cp -r plugins/email/skills $out/share/carapace/plugins/email/skills
      install -Dm0644 plugins/calendar/manifest.json $out/share/carapace/plugins/calendar/manifest.json
      cp -r plugins/calendar/skills $out/share/carapace/plugins/calendar/skills
    '' + lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
      installShellCompletion --cmd carapace \
        --bash <($out/bin/carapace completions bash) \
        --zsh <($out/bin/carapace completions zsh) \
        --fish <($out/bin/carapace completions fish)
    '';
    doInstallCheck = true;
    installCheckPhase = ''
      runHook preInstallCheck
      $out/bin/carapace --version | grep -F ${lib.escapeShellArg version}
      test -x $out/bin/carapace-plugin-echo
      test -x $out/bin/carapace-plugin-memory
      test -x $out/bin/carapace-plugin-telegram
      test -x $out/bin/carapace-plugin-scheduler
      test -x $out/bin/carapace-plugin-email
      test -x $out/bin/carapace-plugin-calendar
      runHook postInstallCheck
    '';
    meta = meta // {
      description = "Run a personal AI agent in a locked-down container; the host holds every credential";
      mainProgram = "carapace";
      platforms = lib.platforms.linux ++ lib.platforms.darwin;
    };
  });

  # `ipc`, the in-container client: musl, crt-static, the `ipc` profile (opt-level z, LTO,
  # panic=abort, stripped). Its dev-dependencies (zmq) are never built for musl.
  ipc =
    let
      craneStatic = crane.mkLib pkgs.pkgsStatic;
      args = {
        inherit src version;
        pname = "carapace-ipc";
        strictDeps = true;
        cargoExtraArgs = "--locked -p carapace-ipc --bin ipc";
        CARGO_PROFILE = "ipc";
        doCheck = false;
      };
    in
    craneStatic.buildPackage (args // {
      cargoArtifacts = craneStatic.buildDepsOnly (args // { cargoCheckExtraArgs = ""; });
      nativeBuildInputs = [ pkgs.buildPackages.file ];
      postInstall = ''
        # `file` says "static-pie linked" for a static PIE and "statically linked" otherwise.
        file -L $out/bin/ipc | tee /dev/stderr | grep -Eq 'static-pie linked|statically linked'
      '';
      meta = meta // {
        description = "The in-container client of Carapace, statically linked";
        mainProgram = "ipc";
        platforms = lib.platforms.linux;
      };
    });
in
{
  inherit craneLib src commonArgs cargoArtifacts carapace ipc;
}
