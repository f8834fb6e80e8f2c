# services.carapace for NixOS: the core as a hardened system service.
#
# The core runs unprivileged (DynamicUser by default) and reaches a rootful podman or docker
# through its API socket, as a member of the engine's socket group. That group is
# root-equivalent (anyone who can drive the engine can mount the host), which the unit's
# sandbox compensates for: no capabilities, read-only system, seccomp allow-list. Its primary
# group is the agent's gid (runtime.agent_gid), so a session socket it creates already has
# the one group the container runs as: sharing it takes a chmod, never a chown.
# A separate privileged oneshot loads the image, so the long-running unit never writes the
# engine's storage. Secrets arrive only through LoadCredential= (read by PID 1 as root, so
# agenix and sops-nix files stay root:root 0400); never in the store, argv, environment or
# the unit file.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.services.carapace;
  inherit (cfg.internal) credentialRefs credentialPath pluginPackages engineEnv coreService sandbox imageLoader;
  agentGroup = "carapace-agent";
  carapace = lib.getExe' cfg.package "carapace";

  engineGroup = if cfg.engine == "docker" then "docker" else "podman";
  engineUnit = if cfg.engine == "docker" then "docker" else "podman";
  engineEnabled = if cfg.engine == "docker"
    then config.virtualisation.docker.enable
    else config.virtualisation.podman.enable;

  # The CLI as the service's own user, against the service's home, outside its sandbox
  # (the control socket refuses peers with no_new_privs, and ProtectProc hides other users).
  ctl = pkgs.writeShellScriptBin "carapace-ctl" ''
    exec ${config.systemd.package}/bin/systemd-run --quiet --wait --pipe --collect \
      --service-type=exec --unit="carapace-ctl-$$" \
      ${lib.optionalString cfg.dynamicUser "--property=DynamicUser=yes"} \
      --property=User=carapace --property=Group=${agentGroup} \
      --property=SupplementaryGroups=${engineGroup} \
      --property=StateDirectory=carapace --property=UMask=0077 \
      --setenv=CARAPACE_HOME=${cfg.home} \
      ${lib.concatStrings (lib.mapAttrsToList (k: v: "--setenv=${k}=${v} ") engineEnv)}\
      ${carapace} --home ${cfg.home} "$@"
  '';
in
{
  _class = "nixos";
  imports = [ (import ./common.nix { class = "nixos"; }) ];

  options.services.carapace = {
    dynamicUser = mkOption {
      type = types.bool;
      default = true;
      description = "Run the core under a transient DynamicUser; false creates a static system user `carapace` (for tools that need a stable uid, e.g. backups of /var/lib/carapace).";
    };
    manageEngine = mkOption {
      type = types.bool;
      default = true;
      description = "Enable virtualisation.podman or virtualisation.docker (whichever services.carapace.engine names).";
    };
    ctlPackage = mkOption {
      type = types.package;
      readOnly = true;
      default = ctl;
      description = "`carapace-ctl ARGS`: the CLI as the service's user (run it as root), e.g. `sudo carapace-ctl doctor`.";
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      services.carapace = {
        enginePackage = lib.mkDefault (if cfg.engine == "docker"
          then config.virtualisation.docker.package
          else config.virtualisation.podman.package);
        engineSocket = lib.mkDefault (if cfg.engine == "docker" then "/run/docker.sock" else "/run/podman/podman.sock");
      };

      # Written out (no `virtualisation.${cfg.engine}`): a computed key there recurses.
      virtualisation.podman.enable = lib.mkIf (cfg.manageEngine && cfg.engine == "podman") true;
      virtualisation.docker.enable = lib.mkIf (cfg.manageEngine && cfg.engine == "docker") true;

      # Docker's containerd image store reports a load-time manifest digest as the image ID,
      # which the build-time pin cannot know (see imageLoader in common.nix): the docker this
      # module enables keeps the classic store, where the ID is the config digest.
      virtualisation.docker.daemon.settings = lib.mkIf (cfg.manageEngine && cfg.engine == "docker") {
        features.containerd-snapshotter = lib.mkDefault false;
      };

      assertions = [
        {
          assertion = engineEnabled;
          message = "services.carapace.engine = \"${cfg.engine}\", but virtualisation.${cfg.engine}.enable is false and services.carapace.manageEngine is false; enable it, or let the module (manageEngine = true).";
        }
        {
          # Without CONTAINER_HOST the podman client would run podman itself, rootless, as a
          # user with no subordinate ids and no writable storage.
          assertion = cfg.engine == "podman" -> cfg.engineSocket != null;
          message = "services.carapace.engineSocket is null, but with podman the core must reach the rootful service through its API socket, e.g. /run/podman/podman.sock.";
        }
      ];

      # The agent's gid as a host group with no member user: the core's primary group, so
      # files it creates (the session sockets) carry the gid the container runs as.
      users.groups.${agentGroup}.gid = cfg.settings.runtime.agent_gid;
      users.users = lib.mkIf (!cfg.dynamicUser) {
        carapace = {
          isSystemUser = true;
          group = agentGroup;
          home = cfg.home;
          description = "Carapace core";
        };
      };

      environment.systemPackages = [ cfg.package ctl ];

      systemd.services.carapace = {
        description = "Carapace core: the agent's only way out";
        wantedBy = [ "multi-user.target" ];
        after = [ "network-online.target" "${engineUnit}.socket" ];
        wants = [ "network-online.target" ];
        requires = [ "${engineUnit}.socket" ];
        path = pluginPackages;
        environment = {
          CARAPACE_HOME = cfg.home;
          HOME = "/run/carapace";
        } // engineEnv;
        serviceConfig = coreService // {
          DynamicUser = cfg.dynamicUser;
          User = "carapace";
          Group = agentGroup;
          SupplementaryGroups = [ engineGroup ];
          StateDirectory = "carapace";
          StateDirectoryMode = "0700";
          RuntimeDirectory = "carapace";
          RuntimeDirectoryMode = "0700";
          LoadCredential = map (c: "${c.id}:${credentialPath c}") credentialRefs;
        } // sandbox // {
          # What only a system manager sets up, on top of the shared sandbox.
          CapabilityBoundingSet = [ "" ];
          AmbientCapabilities = [ "" ];
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          DevicePolicy = "closed";
          PrivateMounts = true;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          ProtectProc = "invisible";
          ProcSubset = "pid";
          KeyringMode = "private";
          RemoveIPC = true;
        };
      };
    }

    (lib.mkIf cfg.image.load {
      systemd.services.carapace-image = {
        description = "Load the Carapace agent image into ${cfg.engine}";
        requiredBy = [ "carapace.service" ];
        before = [ "carapace.service" ];
        after = lib.optional (cfg.engine == "docker") "docker.service";
        requires = lib.optional (cfg.engine == "docker") "docker.service";
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${imageLoader}";
          # Root, to write the engine's storage; but no network: nothing is ever pulled.
          PrivateNetwork = true;
          PrivateTmp = true;
          ProtectHome = true;
          NoNewPrivileges = true;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectControlGroups = true;
          UMask = "0022";
        };
      };
    })
  ]);
}
