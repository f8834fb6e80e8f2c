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

  # Every credential the service is given: `<plugin>.<name>` ids, as $CREDENTIALS_DIRECTORY
  # names them (the model key is plugin `model`).
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
  pluginDir =
    let
      placed = lib.filterAttrs (_: p: p.enable && (p.package != null || p.path != null)) cfg.plugins;
      folder = name: p: if p.path != null then "${p.path}" else "${p.package}/share/carapace/plugins/${name}";
    in
    if placed == { } then null else
      pkgs.runCommand "carapace-plugins" { preferLocalBuild = true; } (''
        mkdir -p "$out"
      '' + lib.concatStrings (lib.mapAttrsToList (name: p: ''
        test -f ${folder name p}/manifest.json || {
          echo "plugin ${name}: ${folder name p} has no manifest.json" >&2; exit 1; }
        ln -s ${folder name p} "$out/${name}"
      '') placed));

  # Settings as TOML will hold them: unset typed options (null) dropped, derivations kept whole.
  stripNulls = v:
    if lib.isDerivation v then v
    else if builtins.isAttrs v then lib.mapAttrs (_: stripNulls) (lib.filterAttrs (_: x: x != null) v)
    else if builtins.isList v then map stripNulls v
    else v;
  # Empty sections are left out: the core's defaults apply.
  settingsValue = lib.filterAttrs (_: v: v != { }) (stripNulls cfg.settings);

  # The image is pinned at build time from agent-image-digest (no import-from-derivation),
  # unless the user pins runtime.image (or runs a rootfs) themselves.
  pinImage = cfg.image.digest != null && cfg.settings.runtime.image == null
    && !(cfg.settings.runtime ? rootfs);
  checkConfig = cfg.checkConfig && pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
  configFile = pkgs.runCommand "carapace-config.toml"
    {
      nativeBuildInputs = [ pkgs.jq pkgs.remarshal ];
      settings = builtins.toJSON settingsValue;
      passAsFile = [ "settings" ];
      preferLocalBuild = true;
      allowSubstitutes = false;
    }
    ((if pinImage then ''
      jq --arg id "$(tr -d '[:space:]' < ${cfg.image.digest}/image-id)" \
         --slurpfile layers ${cfg.image.digest}/diff-ids.json \
         '.runtime.image = ("sha256:" + $id) | .runtime.image_layers = $layers[0]' \
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
in
{
  options.services.carapace = {
    enable = lib.mkEnableOption "Carapace, a personal AI agent in a locked-down container whose credentials stay on the host";

    package = lib.mkPackageOption pkgs "carapace" { };

    home = mkOption {
      type = types.str;
      readOnly = isNixOS;
      description = "The Carapace home ($CARAPACE_HOME): config.toml (a link to the checked file), run/, logs/audit/, keys/, data/.";
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
            description = "A plugin folder (manifest.json, skills/) instead of the package's share/carapace/plugins/<name>; a Nix path is copied to the store (a plugin folder holds no secret). Its handler must be on PATH (package) or inside the folder.";
          };
          groups = mkOption {
            type = types.nullOr (types.listOf types.str);
            default = null;
            description = "Groups that may call its tools; every group whose patterns match when null.";
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
        description = "The image's agent-image-digest (the flake's images carry it as passthru.digest): its image-id and diff-ids.json pin runtime.image and runtime.image_layers at build time, unless settings.runtime.image is set.";
      };
      load = mkOption {
        type = types.bool;
        default = cfg.image.package != null;
        defaultText = literalExpression "config.services.carapace.image.package != null";
        description = "Whether to load image.package into the engine (skipped when its content-derived tag is already there).";
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
      default = { inherit credentialRefs parseSecretRef pluginPackages; };
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
        (_: p: { enabled = p.enable; config = p.settings; } // lib.optionalAttrs (p.groups != null) { inherit (p) groups; })
        cfg.plugins
      // { dirs = lib.optional (pluginDir != null) pluginDir; };
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
          assertion = cfg.image.load -> cfg.image.package != null && cfg.skopeo != null;
          message = "services.carapace.image.load needs image.package (the nix2container image) and skopeo (skopeo-nix2container for this host).";
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
