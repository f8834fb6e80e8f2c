# The agent image (nix2container, no base image: every store path is pinned by flake.lock):
# Claude Code from nixpkgs, the static `ipc`, bash (Claude Code needs a real one) and the few
# tools a shell session uses, a non-root user, and the mount points the core uses. Layers go
# from most to least stable, so an update re-sends only what changed: the tools and libc,
# then Claude Code's closure, then the small root (passwd, directories, `ipc`).
#
# `digest` records, at build time, what the core checks before every run: the image ID (the
# sha256 of the config skopeo hands the engine) and the layer diff_ids.
{ lib, pkgs, nix2container, skopeo-nix2container, ipc
, claude-code ? pkgs.claude-code
, agentUid ? 100000
, agentGid ? 100000
, tag ? null
}:
let
  tools = [ (pkgs.bashNonInteractive or pkgs.bash) ] ++ (with pkgs; [ coreutils gnugrep gnused findutils ]);
  uid = toString agentUid;
  gid = toString agentGid;

  # / of the image. /etc/claude-code is an empty read-only mount point (the managed settings),
  # /run/carapace the session socket directory, /workspace the group's workspace, /home/agent
  # the agent's tmpfs; /tmp is a tmpfs too, but exists for runs without one.
  root = pkgs.runCommand "carapace-agent-root" { } ''
    mkdir -p $out/etc/claude-code $out/home/agent $out/tmp $out/workspace $out/run/carapace \
      $out/usr/local/bin $out/proc $out/sys $out/dev
    ln -s ${ipc}/bin/ipc $out/usr/local/bin/ipc
    printf 'root:x:0:0::/root:/bin/false\nagent:x:${uid}:${gid}::/home/agent:/bin/bash\n' > $out/etc/passwd
    printf 'root:x:0:\nagent:x:${gid}:\n' > $out/etc/group
  '';
  bin = pkgs.buildEnv {
    name = "carapace-agent-bin";
    paths = tools ++ [ claude-code ];
    pathsToLink = [ "/bin" ];
  };

  toolsLayer = nix2container.buildLayer { deps = tools; };
  agentLayer = nix2container.buildLayer {
    deps = [ claude-code ];
    layers = [ toolsLayer ];
    # Claude Code's runtime (if any) apart from Claude Code itself.
    maxLayers = 2;
  };

  image = nix2container.buildImage {
    name = "carapace-agent";
    inherit tag;
    layers = [ toolsLayer agentLayer ];
    copyToRoot = [ root bin ];
    perms = [
      { path = root; regex = "/home/agent$"; mode = "0700"; uid = agentUid; gid = agentGid; uname = "agent"; gname = "agent"; }
      { path = root; regex = "/tmp$"; mode = "1777"; }
    ];
    config = {
      User = "${uid}:${gid}";
      WorkingDir = "/workspace";
      Env = [ "PATH=/usr/local/bin:/bin" "HOME=/home/agent" "SHELL=/bin/bash" "LANG=C.UTF-8" ];
      Labels = {
        "org.opencontainers.image.title" = "carapace-agent";
        "org.opencontainers.image.description" = "Claude Code and the Carapace ipc client";
        "dev.carapace.claude-code.version" = claude-code.version or "unknown";
      };
    };
    meta.platforms = lib.platforms.linux;
  };

  # The image carries its digest (passthru.digest; passthru is not part of the derivation, so
  # the image is the same store path), and the modules pin whichever image they are given.
  withDigest = image.overrideAttrs (old: { passthru = (old.passthru or { }) // { inherit digest; }; });

  # skopeo's nix: transport assembles the image the same way when it copies it, so image-id
  # (the config digest) and diff-ids.json are what podman and docker's classic store report
  # (checked here against each other, not yet in a sandbox run). manifest-digest is the nix:
  # transport's own manifest: an engine may hold another one (docker's containerd store writes
  # its own at load time and reports that as the image ID), so the modules pin image-id and
  # diff-ids.json, and their image loader checks both against what the engine reports.
  digest = pkgs.runCommand "carapace-agent-image-digest"
    {
      nativeBuildInputs = [ skopeo-nix2container pkgs.jq ];
      passthru = { inherit image; };
      meta.platforms = lib.platforms.linux;
    } ''
    export HOME=$TMPDIR
    mkdir -p $out
    skopeo inspect --config --raw nix:${image} > $out/config.json
    skopeo inspect --raw nix:${image} > $out/manifest.json
    sha256sum < $out/config.json | cut -d' ' -f1 > $out/image-id
    sha256sum < $out/manifest.json | cut -d' ' -f1 > $out/manifest-digest
    jq -c '[.layers[].diff_ids]' ${image} > $out/diff-ids.json
    # The layers the image JSON lists are the ones the config names, in order.
    jq -e --slurpfile config $out/config.json '. == $config[0].rootfs.diff_ids' $out/diff-ids.json
    printf 'sha256:%s\n' "$(cat $out/image-id)" > $out/image-ref
    printf '%s:%s\n' ${image.imageName} ${image.imageTag} > $out/image-name
  '';
in
{
  image = withDigest;
  inherit digest;
}
