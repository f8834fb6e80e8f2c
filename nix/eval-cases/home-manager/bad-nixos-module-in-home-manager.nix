# expect: cannot be imported into a module evaluation that expects class "homeManager"
{ imports = [ ../../../modules/nixos.nix ]; }
