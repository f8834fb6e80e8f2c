# services.carapace for home-manager: the core as your own user's service, a systemd user
# unit on Linux and a launchd agent on macOS, with the same options as the NixOS module.
#
# Secrets are still references to files. On Linux, LoadCredential= works in user units
# (agenix-HM's "${XDG_RUNTIME_DIR}/..." becomes %t/...). launchd has no such thing, so on
# macOS a small launcher copies each referenced file into a private directory under the home
# (0700) and points $CREDENTIALS_DIRECTORY at it; nothing is put in the store, the plist, argv
# or the environment.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.carapace;
  inherit (cfg.internal) credentialRefs credentialPath parseSecretRef pluginPackages engineEnv coreService sandbox imageLoader;
  isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
  carapace = lib.getExe' cfg.package "carapace";

  # Plugin handlers are found on PATH after the directory of `carapace` itself.
  searchPath = lib.concatStringsSep ":" (map (p: "${p}/bin") pluginPackages
    ++ lib.optionals (!isDarwin) [ "/run/wrappers/bin" ]
    ++ [ "${config.home.homeDirectory}/.nix-profile/bin" "/etc/profiles/per-user/${config.home.username}/bin"
         "/run/current-system/sw/bin" "/usr/local/bin" "/usr/bin" "/bin" ]);

  # A reference as a user unit's LoadCredential= path (%t is $XDG_RUNTIME_DIR).
  unitPath = c:
    let p = parseSecretRef (credentialPath c); in
    if p.kind == "runtime-dir" then "%t/${p.rest}" else c.ref;

  # A reference as a shell word for the darwin launcher: the base is expanded, the rest quoted.
  shellPath = c:
    let p = parseSecretRef (credentialPath c); in
    if p.kind == "darwin-temp-dir" then ''"$(getconf DARWIN_USER_TEMP_DIR)"/${lib.escapeShellArg p.rest}''
    else lib.escapeShellArg c.ref;

  darwinLauncher = pkgs.writeShellScript "carapace-launchd" (''
    set -eu
    umask 077
    export CARAPACE_HOME=${lib.escapeShellArg cfg.home}
    mkdir -p "$CARAPACE_HOME/run"
    chmod 700 "$CARAPACE_HOME" "$CARAPACE_HOME/run"
    ln -sfn ${cfg.configFile} "$CARAPACE_HOME/config.toml"
  '' + lib.optionalString (credentialRefs != [ ]) (''
    creds="$CARAPACE_HOME/run/launchd-credentials"
    rm -rf "$creds"
    mkdir -m 700 "$creds"
    credential() {
      if [ -f "$1" ]; then cp "$1" "$creds/$2"; chmod 400 "$creds/$2"
      else echo "carapace: credential $2: $1 is missing" >&2; fi
    }
  '' + lib.concatMapStrings (c: ''
    credential ${shellPath c} ${lib.escapeShellArg c.id}
  '') credentialRefs + ''
    export CREDENTIALS_DIRECTORY="$creds"
  '') + lib.optionalString cfg.image.load ''
    # Not fatal: launchd would restart the launcher, and the copy, again and again; the core
    # refuses sessions with an unusable image and `carapace doctor` says why.
    ${imageLoader} || echo "carapace: the agent image is not usable (see above); agent sessions will be refused" >&2
  '' + ''
    exec ${carapace} --home "$CARAPACE_HOME" start
  '');
in
{
  _class = "homeManager";
  imports = [ (import ./common.nix { class = "homeManager"; }) ];

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      services.carapace = {
        enginePackage = lib.mkDefault (if cfg.engine == "docker" then pkgs.docker-client
          else if cfg.engine == "podman" then pkgs.podman else null);
        engineSocket = lib.mkDefault (if !isDarwin && cfg.engine == "podman" then "%t/podman/podman.sock" else null);
        image.load = lib.mkDefault (cfg.image.package != null && cfg.engine != "apple");
      };

      home.packages = [ cfg.package ];

      assertions =
        map (c: {
          assertion = builtins.isPath c.ref || (parseSecretRef c.ref).kind != (if isDarwin then "runtime-dir" else "darwin-temp-dir");
          message = if isDarwin
            then "${c.option} = \"${toString c.ref}\": macOS has no XDG_RUNTIME_DIR; agenix-HM puts secrets under $(getconf DARWIN_USER_TEMP_DIR)/agenix/."
            else "${c.option} = \"${toString c.ref}\": $(getconf DARWIN_USER_TEMP_DIR) exists only on macOS; use %t/... or an absolute path.";
        }) credentialRefs
        ++ [
          {
            assertion = isDarwin -> (cfg.engineSocket == null || lib.hasPrefix "/" cfg.engineSocket);
            message = "services.carapace.engineSocket must be an absolute path on macOS (launchd expands no %t).";
          }
          {
            assertion = cfg.engine == "apple" -> isDarwin;
            message = "services.carapace.engine = \"apple\" (Apple's container) exists only on macOS.";
          }
          {
            assertion = cfg.engine == "apple" -> !cfg.image.load;
            message = "services.carapace.image.load cannot load into Apple's container; load an OCI archive by hand and set settings.runtime.image.";
          }
        ];
    }

    (lib.mkIf (!isDarwin) {
      systemd.user.services.carapace = {
        Unit = {
          Description = "Carapace core: the agent's only way out";
          After = [ "network-online.target" ] ++ lib.optional (cfg.engine == "podman") "podman.socket"
            ++ lib.optional cfg.image.load "carapace-image.service";
          Wants = lib.optional (cfg.engine == "podman") "podman.socket";
          Requires = lib.optional cfg.image.load "carapace-image.service";
        };
        # What a user manager can enforce without privileges (seccomp, no_new_privs).
        Service = sandbox // coreService // {
          # A user manager has no StateDirectory= under the home: make it first.
          ExecStartPre = [ "${pkgs.coreutils}/bin/install -d -m 0700 ${cfg.home}" ] ++ coreService.ExecStartPre;
          Environment = [ "CARAPACE_HOME=${cfg.home}" "PATH=${searchPath}" ]
            ++ lib.mapAttrsToList (k: v: "${k}=${v}") engineEnv;
          LoadCredential = map (c: "${c.id}:${unitPath c}") credentialRefs;
        };
        Install.WantedBy = [ "default.target" ];
      };

      systemd.user.services.carapace-image = lib.mkIf cfg.image.load {
        Unit.Description = "Load the Carapace agent image into ${cfg.engine}";
        Service = {
          Type = "oneshot";
          RemainAfterExit = true;
          # Rootless containers-storage re-executes skopeo and podman under newuidmap (setuid).
          Environment = [ "PATH=/run/wrappers/bin:/usr/bin:/bin" ];
          ExecStart = "${imageLoader}";
        };
      };
    })

    (lib.mkIf isDarwin {
      launchd.agents.carapace = {
        enable = true;
        config = {
          ProgramArguments = [ "${darwinLauncher}" ];
          RunAtLoad = true;
          KeepAlive = { SuccessfulExit = false; };
          ProcessType = "Background";
          StandardOutPath = "${config.home.homeDirectory}/Library/Logs/carapace.log";
          StandardErrorPath = "${config.home.homeDirectory}/Library/Logs/carapace.log";
          EnvironmentVariables = { PATH = searchPath; } // engineEnv;
        };
      };
    })
  ]);
}
