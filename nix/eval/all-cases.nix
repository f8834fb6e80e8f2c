# Every case in nix/eval-cases, evaluated in Nix alone (for `nix flake check`): ok-* must
# evaluate, bad-* must fail. Returns one "PASS <case>" line per case, or throws naming the
# case that did not behave. (The `# check:` lines are Python: .ci/nix-check runs them.)
{ nixlib }:
let
  lib = import nixlib;
  folders = { nixos = "nixos"; home-manager = "homeManager"; };
  casesIn = folder: lib.attrNames (lib.filterAttrs (n: t: t == "regular" && lib.hasSuffix ".nix" n)
    (builtins.readDir (../eval-cases + "/${folder}")));
  run = folder: klass: file:
    let
      case = ../eval-cases + "/${folder}/${file}";
      isDarwin = lib.hasInfix "# platform: darwin" (builtins.readFile case);
      tried = builtins.tryEval (builtins.deepSeq
        (import ./eval.nix { inherit nixlib case isDarwin; class = klass; })
        true);
      good = lib.hasPrefix "ok-" file;
    in
    if tried.success == good then "PASS ${folder}/${file}"
    else throw "module case ${folder}/${file}: ${if good then "failed to evaluate" else "evaluated, but must not"}";
in
lib.concatLists (lib.mapAttrsToList (folder: klass: map (run folder klass) (casesIn folder)) folders)
