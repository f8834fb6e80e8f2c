# services.carapace.settings: config.toml section by section. The sections are fixed (an
# unknown one fails evaluation); inside each, the keys the module relies on or that are easy
# to get wrong are typed, and every other key passes through to `carapace check-config`, which
# checks the generated file at build time. TOML has no null: an unset typed option is null
# here and left out of the file.
{ lib, tomlValue, engines }:
let
  inherit (lib) mkOption types;
  # A typed option inside a freeform section: unset (null) unless defined.
  optional = type: description: mkOption { type = types.nullOr type; default = null; inherit description; };
  section = description: options: mkOption {
    type = types.submodule { freeformType = tomlValue; inherit options; };
    default = { };
    description = "${description} Any other key is passed through and checked by `carapace check-config` at build time.";
  };
  positive = types.ints.positive;
  id = types.ints.between 1 4294967294;
  sizeType = types.strMatching "[0-9]{1,12}[kmgKMG]?";
  pinnedImage = types.strMatching "(sha256:)?[0-9a-f]{64}|[a-z0-9._/:-]+@sha256:[0-9a-f]{64}";
  diffId = types.strMatching "sha256:[0-9a-f]{64}";
in
mkOption {
  default = { };
  description = ''
    config.toml, section by section. The sections are fixed (an unknown one is an error at
    evaluation); keys inside a section are free and checked at build time by the real binary.
    The module sets runtime.engine, runtime.program and (from image.digest) runtime.image and
    runtime.image_layers;
    groups and plugins come from services.carapace.groups and .plugins. Goes to the store:
    never a secret here.
  '';
  type = types.submodule {
    options = {
      core = section "Daemon-wide settings (`[core]`)." {
        log_level = optional types.str "tracing filter for the daemon's log, e.g. info or carapace=debug.";
        tool_deadline_secs = optional positive "Deadline of one tool call, in seconds.";
        confirmation_timeout_secs = optional positive "How long a high-risk call waits for the user, in seconds.";
        max_sessions = optional positive "Most sessions open at once.";
        plugin_initialize_secs = optional positive "How long a plugin's initialize may take, in seconds.";
        plugin_uid_base = optional (types.ints.between 1000 2147418112) "When the core runs as root: the first of the 65,536 uids/gids its plugin handlers run as, one per plugin (default 2100000000, above SSSD's id-mapping range; never ids a host user or a subordinate range has).";
      };
      audit = section "The audit log (`[audit]`)." {
        rotate_bytes = optional positive "Size at which audit.jsonl is rotated.";
      };
      rate_limit = section "Default token bucket of every group without its own (`[rate_limit]`)." {
        per_minute = optional positive "Sustained calls per minute, per session and tool.";
        burst = optional positive "Calls allowed at once.";
      };
      groups = mkOption {
        type = types.attrsOf tomlValue;
        default = { };
        description = "Raw `[groups.<name>]` tables; prefer services.carapace.groups.";
      };
      plugins = mkOption {
        default = { };
        description = "`[plugins]`: dirs, and raw `[plugins.<name>]` tables; prefer services.carapace.plugins.";
        type = types.submodule {
          freeformType = types.attrsOf tomlValue;
          options.dirs = mkOption {
            type = types.listOf (types.either types.path types.str);
            default = [ ];
            description = "Extra directories of plugin folders, searched before the home's plugins/.";
          };
        };
      };
      model = section "The model proxy (`[model]`)." {
        provider = optional (types.enum [ "anthropic" ]) "The provider whose API is forwarded.";
        upstream = optional (types.strMatching "https://[^@?]+|http://(127[.][0-9.]+|localhost|[[]::1[]])(:[0-9]+)?(/[^@?]*)?")
          "Where requests go: https://..., or plain http to a loopback address (tests).";
        daily_token_budget = optional types.ints.unsigned "Tokens each group may use per UTC day; 0 = unlimited.";
      };
      runtime = section "The container engine and the limits of agent containers (`[runtime]`)." {
        engine = mkOption { type = types.enum engines; description = "Set from services.carapace.engine (a different value here is a conflict)."; };
        program = optional types.str "The engine's program; the module points it at enginePackage.";
        image = optional pinnedImage "The agent image pinned by digest (sha256:<id> or name@sha256:<digest>); set from image.digest when null.";
        image_layers = optional (types.listOf diffId) "The image's layer diff_ids, in order; set from image.digest when null (also when runtime.image is pinned by hand).";
        agent_uid = mkOption { type = id; default = 100000; description = "The agent's uid in the container: never one a host user has."; };
        agent_gid = mkOption { type = id; default = 100000; description = "The agent's gid: the only group that may reach a session's sockets."; };
        memory = optional sizeType "Memory limit of an agent container, e.g. 1g.";
        pids_limit = optional positive "Most processes in an agent container.";
      };
      agent = section "The agent program run in each session's container (`[agent]`)." {
        command = optional (types.nonEmptyListOf types.str) "Program and arguments; {prompt} is replaced by the prompt.";
        idle_timeout_secs = optional positive "Seconds the agent may print nothing before its container is killed.";
        model_proxy = optional types.bool "Serve the model proxy to the agent (it never sees a key).";
        relay_port = optional (types.ints.between 1 65535) "Loopback port `ipc relay` listens on in the container.";
      };
    };
  };
}
