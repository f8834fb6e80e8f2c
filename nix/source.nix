# The source every Rust derivation sees: the Cargo sources plus the non-Rust files the code
# compiles in (docs/manifest.schema.json), links by (link/code-order.txt, see build.rs),
# installs (the echo, memory, telegram, scheduler, calendar and email plugins' manifests and skills) or its tests read (tests/fixtures).
# Editing flake.nix, nix/, modules/ or docs/*.md does not rebuild anything Rust.
{ lib, craneLib }:
let
  fs = lib.fileset;
  root = ../.;
in
fs.toSource {
  inherit root;
  fileset = fs.difference
    (fs.unions [
      (craneLib.fileset.commonCargoSources root)
      (root + "/docs/manifest.schema.json")
      (root + "/link/code-order.txt")
      (root + "/plugins/echo/manifest.json")
      (root + "/plugins/echo/skills")
      (root + "/plugins/memory/manifest.json")
      (root + "/plugins/memory/skills")
      (root + "/plugins/telegram/manifest.json")
      (root + "/plugins/telegram/skills")
      (root + "/plugins/scheduler/manifest.json")
      (root + "/plugins/scheduler/skills")
      (root + "/plugins/email/manifest.json")
      (root + "/plugins/email/skills")
      (root + "/plugins/calendar/manifest.json")
      (root + "/plugins/calendar/skills")
      (fs.maybeMissing (root + "/tests/fixtures"))
      (fs.maybeMissing (root + "/proptest-regressions"))
    ])
    # Outside a flake (nix-build on a checkout) these would leak in; fuzz/ is not a member.
    (fs.unions [ (fs.maybeMissing (root + "/target")) (fs.maybeMissing (root + "/fuzz")) ]);
}
