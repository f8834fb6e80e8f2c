# services.carapace: the options the NixOS and home-manager modules share (the settings
# schema is in settings.nix), and the config.toml they render, checked at build time by the
# real `carapace check-config`.
#
# Imported as `(import ./common.nix { class = "nixos"; })` or `{ class = "homeManager"; }`.
# The class only decides what a host can offer: which engines, where the home is, and
# which forms of secret reference its service manager can resolve.
#
# Credentials are references to files, never values. Nothing here may put a secret, or a
# path literal Nix would copy, into the world-readable store: a path literal is refused by
# an assertion, and rendering one throws instead of interpolating it.
{ class }:
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types literalExpression;
  cfg = config.services.carapace;
  isNixOS = class == "nixos";
  toml = pkgs.formats.toml { };
  tomlValue = toml.type;

  # The core's own name patterns (src/plugins, src/credentials.rs, src/config).
  matches = re: s: builtins.match re s != null;
  pluginNameRe = "[a-z][a-z0-9_-]{0,63}";
  credentialNameRe = "[A-Za-z0-9_.-]{1,64}";
  groupNameRe = "[A-Za-z0-9_-]{1,64}";
  modelCredentialNames = [ "anthropic_api_key" "anthropic_oauth_token" ];
  # Names the core derives its own paths and ids from (src/plugins/reserved.rs): a plugin
  # named `model` would be given the model key as `model.<name>`, one named `agent` the
  # agent's transcripts. Keep in step with RESERVED there.
  reservedPluginNames = [
    "agent" "audit" "carapace" "config" "control" "core" "credentials" "data" "events"
    "groups" "intrinsic" "ipc" "keys" "logs" "model" "plugin" "plugins" "run" "session"
    "sessions" "skills" "state"
  ];

  # Where a secret reference may start. A system unit resolves absolute paths only; a user
  # unit also `%t/` (agenix-HM writes "${XDG_RUNTIME_DIR}/agenix/<n>", rewritten to %t);
  # the darwin launcher resolves agenix-HM's "$(getconf DARWIN_USER_TEMP_DIR)/agenix/<n>".
  secretBases =
    { "/" = "absolute"; }
    // lib.optionalAttrs (!isNixOS) {
      "%t/" = "runtime-dir";
      "\${XDG_RUNTIME_DIR}/" = "runtime-dir";
      "$XDG_RUNTIME_DIR/" = "runtime-dir";
      "$(getconf DARWIN_USER_TEMP_DIR)/" = "darwin-temp-dir";
    };
  secretRestRe = "[A-Za-z0-9._@+=,/-]+";

  parseSecretRef = ref:
    let base = lib.findFirst (b: lib.hasPrefix b ref) null (lib.attrNames secretBases);
    in {
      inherit base;
      kind = if base == null then null else secretBases.${base};
      rest = if base == null then null else lib.removePrefix base ref;
    };

  howToRefer = ''give the decrypted file's runtime path as a string, e.g. config.age.secrets.<name>.path (agenix) or config.sops.secrets."<name>".path (sops-nix)'';

  # Why a secret reference is refused, or null. Never interpolates a path value ("${p}" would
  # copy the file into the store); `toString` of a path does not.
  secretProblem = option: ref:
    if builtins.isPath ref then
      "${option} is the Nix path literal ${toString ref}: Nix would copy the secret into the world-readable ${builtins.storeDir}; ${howToRefer}."
    else if !(builtins.isString ref) then
      # types.path also takes a package (anything that coerces to a store path).
      "${option} is a ${builtins.typeOf ref} that stands for a store path, and every store path is world-readable; ${howToRefer}."
    else if builtins.hasContext ref then
      "${option} = \"${builtins.unsafeDiscardStringContext ref}\" refers to a store path, and every store path is world-readable; ${howToRefer}."
    else if lib.hasPrefix "${builtins.storeDir}/" ref then
      "${option} = \"${ref}\" is in ${builtins.storeDir}, which is world-readable; ${howToRefer}."
    else
      let parsed = parseSecretRef ref; in
      if parsed.kind == null then
        (if isNixOS
         then "${option} = \"${ref}\" is not an absolute path; LoadCredential= needs one, e.g. /run/agenix/anthropic."
         else "${option} = \"${ref}\" must be an absolute path or start with %t/, \${XDG_RUNTIME_DIR}/ or $(getconf DARWIN_USER_TEMP_DIR)/.")
      else if !(matches secretRestRe parsed.rest) || lib.elem ".." (lib.splitString "/" parsed.rest) then
        "${option} = \"${ref}\": after \"${parsed.base}\" a secret path may only use [A-Za-z0-9._@+=,/-] and no `..` component."
      else null;

  secretRef = types.either types.str types.path // {
    description = "path of a secret file, as a string (never a path literal, never in the store)";
  };

  # A credential's reference as it is written into a unit or a script. A path literal throws
  # here rather than being interpolated (which would copy it into the store), even when the
  # unit is read without the assertions.
  credentialPath = c:
    if builtins.isPath c.ref then throw "${c.option}: a Nix path literal is refused (it would be copied into the store)"
    else if !(builtins.isString c.ref) then throw "${c.option}: a package is refused (it is in the world-readable store)"
    else c.ref;

  # Every credential the service is given: `<plugin>.<name>` ids, as $CREDENTIALS_DIRECTORY
  # names them; the model key is `model.<name>`, which no plugin can be named.
  credentialRefs =
    lib.mapAttrsToList
      (name: ref: { id = "model.${name}"; option = "services.carapace.credentials.${name}"; inherit ref; })
      cfg.credentials
    ++ lib.concatLists (lib.mapAttrsToList
      (plugin: p: lib.optionals p.enable (lib.mapAttrsToList
        (name: ref: { id = "${plugin}.${name}"; option = "services.carapace.plugins.${plugin}.credentials.${name}"; inherit ref; })
        p.credentials))
      cfg.plugins);

  pluginPackages = lib.filter (p: p != null)
    (lib.mapAttrsToList (_: p: if p.enable then p.package else null) cfg.plugins);

  # One directory of plugin folders: <name> -> its `path`, or <package>/share/carapace/plugins/<name>.
  # A folder in the store is checked for its manifest at build time; a `path` given as a plain
  # string outside the store (a folder managed by other means) cannot be read in the build
  # sandbox, so it is only linked, and the core reports it at start if it is not a plugin.
  pluginDir =
    let
      placed = lib.filterAttrs (_: p: p.enable && (p.package != null || p.path != null)) cfg.plugins;
      folder = name: p: if p.path != null then "${p.path}" else "${p.package}/share/carapace/plugins/${name}";
      inStore = p: p.path == null || builtins.isPath p.path || builtins.hasContext p.path
        || lib.hasPrefix "${builtins.storeDir}/" p.path;
    in
    if placed == { } then null else
      pkgs.runCommand "carapace-plugins" { preferLocalBuild = true; } (''
        mkdir -p "$out"
      '' + lib.concatStrings (lib.mapAttrsToList (name: p: lib.optionalString (inStore p) ''
        test -f ${lib.escapeShellArg (folder name p)}/manifest.json || {
          echo "plugin ${name}: ${folder name p} has no manifest.json" >&2; exit 1; }
      '' + ''
        ln -s ${lib.escapeShellArg (folder name p)} "$out/${name}"
      '') placed));

  # Settings as TOML will hold them: unset typed options (null) dropped, derivations kept whole.
  stripNulls = v:
    if lib.isDerivation v then v
    else if builtins.isAttrs v then lib.mapAttrs (_: stripNulls) (lib.filterAttrs (_: x: x != null) v)
    else if builtins.isList v then map stripNulls v
    else v;
  # Empty sections are left out: the core's defaults apply.
  settingsValue = lib.filterAttrs (_: v: v != { }) (stripNulls cfg.settings);

  # The image is pinned at build time from agent-image-digest (no import-from-derivation):
  # runtime.image_layers to its layers' diff_ids and runtime.image to its ID (the config
  # digest), each unless the user sets it (or runs a rootfs). The layers are what every engine
  # reports alike; the ID is not (see imageLoader), which is why it can be pinned by hand alone.
  pinnable = cfg.image.digest != null && !(cfg.settings.runtime ? rootfs);
  pinLayers = pinnable && cfg.settings.runtime.image_layers == null;
  pinId = pinnable && cfg.settings.runtime.image == null;
  # An image ID the user pinned by hand (bare hex), or null (none, or a name@sha256: manifest pin).
  userPinnedId =
    let m = if cfg.settings.runtime.image == null then null
      else builtins.match "(sha256:)?([0-9a-f]{64})" cfg.settings.runtime.image;
    in if m == null then null else builtins.elemAt m 1;
  checkConfig = cfg.checkConfig && pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
  configFile = pkgs.runCommand "carapace-config.toml"
    {
      nativeBuildInputs = [ pkgs.jq pkgs.remarshal ];
      settings = builtins.toJSON settingsValue;
      passAsFile = [ "settings" ];
      preferLocalBuild = true;
      allowSubstitutes = false;
    }
    ((if pinLayers || pinId then ''
      jq ${lib.optionalString pinId ''--arg id "$(tr -d '[:space:]' < ${cfg.image.digest}/image-id)"''} \
         --slurpfile layers ${cfg.image.digest}/diff-ids.json \
         '${lib.concatStringsSep " | " (lib.optional pinId ''.runtime.image = ("sha256:" + $id)''
           ++ lib.optional pinLayers ".runtime.image_layers = $layers[0]")}' \
         "$settingsPath" > settings.json
    '' else ''
      jq . "$settingsPath" > settings.json
    '') + ''
      json2toml settings.json "$out"
    '' + lib.optionalString checkConfig ''
      ${lib.getExe' cfg.package "carapace"} check-config "$out"
    '');

  # Values that read like secrets, to warn about: settings go to the store.
  secretLookingKey = k: matches "(.*[_-])?(secret|password|passwd|api[_-]?key|token)" (lib.toLower k);
  secretLookingPaths = prefix: v:
    if builtins.isAttrs v && !(lib.isDerivation v) then
      lib.concatLists (lib.mapAttrsToList
        (k: x: (lib.optional (secretLookingKey k && builtins.isString x) "${prefix}.${k}") ++ secretLookingPaths "${prefix}.${k}" x) v)
    else [ ];

  positive = types.ints.positive;
  engines = if isNixOS then [ "podman" "docker" ] else [ "podman" "docker" "apple" ];
  isDarwin = pkgs.stdenv.hostPlatform.isDarwin;

  # How the core reaches the engine: its API socket, exported for the engine's client.
  engineEnv =
    if cfg.engineSocket == null || cfg.engine == "apple" then { }
    else if cfg.engine == "docker" then { DOCKER_HOST = "unix://${cfg.engineSocket}"; }
    else { CONTAINER_HOST = "unix://${cfg.engineSocket}"; };

  # How any service manager runs the core: in the foreground, restarted when it fails; the
  # checked config.toml is linked into the home first (so `carapace config set` cannot drift).
  coreService = {
    Type = "exec";
    ExecStartPre = [ "${pkgs.coreutils}/bin/ln -sfn ${configFile} ${cfg.home}/config.toml" ];
    ExecStart = "${lib.getExe' cfg.package "carapace"} --home ${cfg.home} start";
    Restart = "on-failure";
    RestartSec = 5;
    TimeoutStopSec = 30;
  };

  # The part of the core's sandbox any service manager applies, a user's included: seccomp
  # filters and no_new_privs need no privilege. The NixOS unit adds what only PID 1 can.
  sandbox = {
    UMask = "0077";
    NoNewPrivileges = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    # The plugin launcher hides run/ from each handler in a user + mount namespace of its own
    # (src/plugins/confine/namespace.rs) before Landlock confines it: those two namespace
    # kinds stay allowed, with the mount and Landlock calls they need (@mount, @sandbox);
    # every other namespace kind is refused.
    RestrictNamespaces = [ "user" "mnt" ];
    # Plugin handlers and the model proxy need egress; the engine is a Unix socket.
    RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" "@sandbox" "@mount" "~@privileged" "~@resources" ];
    SystemCallErrorNumber = "EPERM";
  };

  # The image loader: the NixOS root oneshot, the home-manager user unit and the darwin
  # launcher all run this one script. It copies image.package into the engine unless its tag
  # is already there with the layers that were built, then checks what the engine reports.
  #
  # What is compared, and why. image_layers (the layers' diff_ids, `.RootFS.Layers`) are the
  # same in every engine and store, so they must always match agent-image-digest. The image
  # ID is not: podman and docker's classic store report the config digest (agent-image-digest's
  # image-id, what runtime.image is pinned to), but docker's containerd image store (the
  # default of a fresh Docker Engine 29 and of Docker Desktop) reports the digest of a manifest
  # it writes itself at load time, which no build can know, and looks images up by that
  # digest only. So the ID the core will demand is checked here too: a mismatch fails now,
  # saying what to do, instead of every session failing with "not present locally".
  #
  # podman on Linux is loaded through containers-storage (as root: the rootful store the
  # socket serves; as a user: the rootless one). Everything else goes to the engine's
  # Docker-compatible API: skopeo's docker-daemon: transport ignores DOCKER_HOST, so the
  # socket is passed with --dest-daemon-host (Docker Desktop, rootless docker, podman machine).
  imageLoader =
    let
      image = cfg.image.package;
      digest = cfg.image.digest;
      viaStorage = cfg.engine == "podman" && !isDarwin;
      ref = lib.optionalString viaStorage "localhost/" + "carapace-agent:${image.imageTag}";
      socket = cfg.engineSocket;
      # engineSocket as a shell word: a user unit's %t is $XDG_RUNTIME_DIR in a script.
      socketWord = if lib.hasPrefix "%t/" socket
        then ''"$XDG_RUNTIME_DIR"/${lib.escapeShellArg (lib.removePrefix "%t/" socket)}''
        else lib.escapeShellArg socket;
      socketEnv = if cfg.engine == "docker" then "DOCKER_HOST" else "CONTAINER_HOST";
      jq = lib.getExe pkgs.jq;
      # podman and docker both print an array of one image; podman's .Id has no sha256: prefix.
      inspected = lib.optionalString (digest != null) "--slurpfile built ${digest}/diff-ids.json "
        + lib.escapeShellArg ("first | " + lib.optionalString (digest != null) "select(.RootFS.Layers == $built[0]) | "
          + ''.Id | ltrimstr("sha256:")'');
      storeHint = lib.optionalString (cfg.engine == "docker") ''echo "carapace: docker's containerd image store names an image by a manifest digest it makes when loading. Use its classic store (\"features\": {\"containerd-snapshotter\": false} in daemon.json; Docker Desktop: turn off \"Use containerd for pulling and storing images\"), or podman; or pin what this engine reports: services.carapace.settings.runtime.image = \"sha256:$id\" (runtime.image_layers still pins the content)." >&2'';
      wantId = if pinId then "read -r want < ${digest}/image-id"
        else if userPinnedId != null then "want=${userPinnedId}"
        else "want=";
    in
    pkgs.writeShellScript "carapace-image-load" (''
      set -eu -o pipefail
      ref=${lib.escapeShellArg ref}
      engine=${cfg.enginePackage}/bin/${cfg.engine}
    '' + lib.optionalString (!viaStorage && socket != null) ''
      socket=${socketWord}
      export ${socketEnv}="unix://$socket"
    '' + ''
      # The ID the engine gives $ref, when $ref is there${lib.optionalString (digest != null) " with the layers built"}.
      inspect() {
        "$engine" image inspect "$ref" 2>/dev/null | ${jq} -er ${inspected}
      }
      if id=$(inspect); then
        echo "carapace: $ref is already loaded"
      else
        ${lib.getExe' cfg.skopeo "skopeo"} --insecure-policy copy \
          ${if viaStorage then "" else lib.optionalString (socket != null) ''--dest-daemon-host "unix://$socket" ''}nix:${image} \
          ${if viaStorage then ''"containers-storage:$ref"'' else ''"docker-daemon:$ref"''}
        if ! id=$(inspect); then
          echo "carapace: after loading, the engine shows no $ref${lib.optionalString (digest != null) " with the layers in ${digest}/diff-ids.json"}" >&2
          exit 1
        fi
      fi
      ${wantId}
      if [ -n "$want" ] && [ "$id" != "$want" ]; then
        echo "carapace: the engine reports $ref as sha256:$id, but runtime.image demands sha256:$want, so the core would refuse every session." >&2
        ${storeHint}
        exit 1
      fi
      echo "carapace: $ref is sha256:$id${lib.optionalString (digest != null) ", with the layers built"}"
    '');
in
{
  options.services.carapace = {
    enable = lib.mkEnableOption "Carapace, a personal AI agent in a locked-down container whose credentials stay on the host";

    package = lib.mkPackageOption pkgs "carapace" { };

    home = mkOption {
      type = types.str;
      readOnly = isNixOS;
      description = "The Carapace home ($CARAPACE_HOME): config.toml (a link to the checked file), run/, logs/audit/, keys/, state/, data/.";
    } // (if isNixOS then { default = "/var/lib/carapace"; } else {
      default = "${config.home.homeDirectory}/.carapace";
      defaultText = literalExpression ''"''${config.home.homeDirectory}/.carapace"'';
    });

    engine = mkOption {
      type = types.enum engines;
      default = if !isNixOS && pkgs.stdenv.hostPlatform.isDarwin then "docker" else "podman";
      defaultText = literalExpression (if isNixOS then ''"podman"'' else ''if isDarwin then "docker" else "podman"'');
      description = "The container engine that runs agent containers; the core reaches it through its API socket.";
    };

    enginePackage = mkOption {
      type = types.nullOr types.package;
      default = null;
      description = "The engine's client (its bin/ holds podman or docker); runtime.program points at it. null for apple (`container` on PATH).";
    };

    engineSocket = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/podman/podman.sock";
      description = "The engine's API socket, exported as CONTAINER_HOST (podman) or DOCKER_HOST (docker). null leaves the client's default.";
    };

    groups = mkOption {
      default = { };
      example = literalExpression ''{ main.tools = [ "*" ]; limited = { tools = [ "echo" ]; rate_limit = { per_minute = 30; burst = 5; }; }; }'';
      description = "Groups by name (`[groups.<name>]`): which tools their sessions may call.";
      type = types.attrsOf (types.submodule {
        options.tools = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "memory_*" "echo" ];
          description = "Glob patterns of tool names this group may call.";
        };
        options.rate_limit = mkOption {
          default = null;
          description = "This group's token bucket; the top-level settings.rate_limit when null.";
          type = types.nullOr (types.submodule {
            options.per_minute = mkOption { type = positive; description = "Sustained calls per minute, per session and tool."; };
            options.burst = mkOption { type = positive; description = "Calls allowed at once."; };
          });
        };
      });
    };

    plugins = mkOption {
      default = { };
      description = "Plugins by name (`[plugins.<name>]`). A bundled plugin (echo) needs no package.";
      type = types.attrsOf (types.submodule {
        options = {
          enable = mkOption { type = types.bool; default = true; description = "Whether the core starts this plugin."; };
          package = mkOption {
            type = types.nullOr types.package;
            default = null;
            description = "A plugin package: its folder at share/carapace/plugins/<name> (manifest.json, skills/), its handler in bin/. null for a bundled plugin or one found in settings.plugins.dirs.";
          };
          path = mkOption {
            type = types.nullOr (types.either types.path types.str);
            default = null;
            example = literalExpression "./plugins/notes";
            description = "A plugin folder (manifest.json, skills/) instead of the package's share/carapace/plugins/<name>; a Nix path is copied to the store (a plugin folder holds no secret) and its manifest checked at build time; an absolute string outside the store is linked as it is. Its handler must be on PATH (package) or inside the folder.";
          };
          groups = mkOption {
            type = types.nullOr (types.listOf types.str);
            default = null;
            description = "Groups that may call its tools; every group whose patterns match when null.";
          };
          capabilities = mkOption {
            type = types.listOf (types.enum [ "approvals" "kill_switch" "budgets" "scheduler" ]);
            default = [ ];
            example = [ "approvals" "kill_switch" ];
            description = "Powers its manifest declares that you grant it (`[plugins.<name>] capabilities`): `approvals` lets it decide pending calls of its groups (e.g. a tap in Telegram), `kill_switch` lets it pause and resume them, `budgets` lets it raise their daily token caps for the day, `scheduler` lets it start task sessions. A manifest alone grants nothing.";
          };
          settings = mkOption {
            type = types.attrsOf tomlValue;
            default = { };
            description = "The plugin's own configuration (`[plugins.<name>.config]`), checked against its manifest's config_schema. Goes to the store: never a secret here.";
          };
          credentials = mkOption {
            type = types.attrsOf secretRef;
            default = { };
            example = literalExpression ''{ token = config.sops.secrets."carapace/github".path; }'';
            description = "The plugin's secrets by name: paths of files (agenix, sops-nix), delivered with LoadCredential= as <plugin>.<name>; never copied to the store.";
          };
        };
      });
    };

    credentials = mkOption {
      type = types.attrsOf secretRef;
      default = { };
      example = literalExpression "{ anthropic_api_key = config.age.secrets.anthropic.path; }";
      description = "The model proxy's credential (${lib.concatStringsSep " or " modelCredentialNames}): the path of a file, delivered with LoadCredential= as model.<name>; never copied to the store.";
    };

    image = {
      package = mkOption {
        type = types.nullOr types.package;
        default = null;
        description = "The agent image (nix2container's buildImage result), loaded into the engine before the core starts.";
      };
      digest = mkOption {
        type = types.nullOr types.package;
        default = if cfg.image.package == null then null else cfg.image.package.passthru.digest or null;
        defaultText = literalExpression "config.services.carapace.image.package.passthru.digest or null";
        description = "The image's agent-image-digest (the flake's images carry it as passthru.digest): its image-id and diff-ids.json pin runtime.image and runtime.image_layers at build time, each unless set in settings.runtime.";
      };
      load = mkOption {
        type = types.bool;
        default = cfg.image.package != null;
        defaultText = literalExpression "config.services.carapace.image.package != null";
        description = "Whether to load image.package into the engine before the core starts (the copy is skipped when its content-derived tag is there with the layers built). The loader then checks that the engine reports the image ID runtime.image pins, and fails, saying what to do, if not (docker's containerd image store).";
      };
    };

    skopeo = mkOption {
      type = types.nullOr types.package;
      default = null;
      description = "skopeo with nix2container's nix: transport, built for this host, that loads the image.";
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = "Run `carapace check-config` on the generated config.toml at build time (skipped when the build platform cannot run the package).";
    };

    configFile = mkOption {
      type = types.package;
      readOnly = true;
      default = configFile;
      defaultText = literalExpression "the rendered, checked config.toml";
      description = "The generated config.toml, linked into the home at start.";
    };

    internal = mkOption {
      type = types.raw;
      internal = true;
      readOnly = true;
      default = {
        inherit credentialRefs credentialPath parseSecretRef pluginPackages engineEnv coreService sandbox;
        imageLoader = if cfg.image.load then imageLoader else null;
      };
      description = "Values the NixOS and home-manager modules share.";
    };

    settings = import ./settings.nix { inherit lib tomlValue engines; };
  };

  config = lib.mkIf cfg.enable {
    services.carapace.settings = {
      runtime.engine = cfg.engine;
      runtime.program = lib.mkIf (cfg.enginePackage != null)
        (lib.mkDefault "${cfg.enginePackage}/bin/${cfg.engine}");
      groups = lib.mapAttrs
        (_: g: { inherit (g) tools; } // lib.optionalAttrs (g.rate_limit != null) { inherit (g) rate_limit; })
        cfg.groups;
      plugins = lib.mapAttrs
        (_: p: { enabled = p.enable; config = p.settings; }
          // lib.optionalAttrs (p.groups != null) { inherit (p) groups; }
          // lib.optionalAttrs (p.capabilities != [ ]) { inherit (p) capabilities; })
        cfg.plugins
      // { dirs = lib.optional (pluginDir != null) pluginDir; }
      # The bundled Telegram plugin needs a bot token and a chat map: off until
      # services.carapace.plugins.telegram configures it (else `doctor` would fail on it).
      // lib.optionalAttrs (!(cfg.plugins ? telegram)) { telegram.enabled = false; };
    };

    assertions =
      let
        groupNames = lib.attrNames cfg.settings.groups;
        named = what: re: names: map
          (n: { assertion = matches re n; message = "${what} `${n}` must match ${re}."; })
          names;
      in
      map (n: {
        assertion = lib.elem n modelCredentialNames;
        message = "services.carapace.credentials.${n}: the model proxy reads only ${lib.concatStringsSep " and " modelCredentialNames}; a plugin's secrets go in services.carapace.plugins.<name>.credentials.";
      }) (lib.attrNames cfg.credentials)
      ++ named "services.carapace.groups: group name" groupNameRe groupNames
      ++ named "services.carapace.plugins: plugin name" pluginNameRe (lib.attrNames cfg.plugins)
      ++ map (n: {
        assertion = !(lib.elem n reservedPluginNames);
        message = "services.carapace.plugins.${n}: the plugin name `${n}` is reserved by the core (it names the core's own files or credentials, e.g. `model.<name>` is the model key); rename the plugin.";
      }) (lib.attrNames cfg.plugins)
      ++ [{
        assertion = !(cfg.plugins ? dirs);
        message = "services.carapace.plugins.dirs: `dirs` is the [plugins] key of extra directories, not a plugin name; use settings.plugins.dirs.";
      }]
      ++ lib.concatLists (lib.mapAttrsToList
        (plugin: p: named "services.carapace.plugins.${plugin}.credentials: credential name" credentialNameRe (lib.attrNames p.credentials)
          ++ map (g: {
            assertion = lib.elem g groupNames;
            message = "services.carapace.plugins.${plugin}.groups names group `${g}`, which services.carapace.groups does not define.";
          }) (if p.groups == null then [ ] else p.groups))
        cfg.plugins)
      ++ map (c: { assertion = secretProblem c.option c.ref == null; message = toString (secretProblem c.option c.ref); }) credentialRefs
      ++ [
        {
          assertion = cfg.image.load -> cfg.image.package != null && cfg.skopeo != null && cfg.enginePackage != null;
          message = "services.carapace.image.load needs image.package (the nix2container image), skopeo (skopeo-nix2container for this host) and enginePackage (the engine's client, to check what it loaded).";
        }
      ];

    warnings =
      lib.optional (cfg.image.package != null && cfg.image.digest == null && cfg.settings.runtime.image == null)
        "services.carapace: image.package is set but neither image.digest nor settings.runtime.image pins it; the core refuses to start sessions until runtime.image is set."
      ++ map (p: "services.carapace.${p} looks like a secret, and settings are copied to the world-readable store; use services.carapace.credentials or plugins.<name>.credentials (a file path) instead.")
        (secretLookingPaths "settings" (builtins.removeAttrs settingsValue [ "plugins" ])
          ++ lib.concatLists (lib.mapAttrsToList (n: p: secretLookingPaths "plugins.${n}.settings" p.settings) cfg.plugins));
  };
}
