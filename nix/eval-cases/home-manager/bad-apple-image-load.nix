# platform: darwin
# expect: cannot load into Apple's container
{ pkgs, ... }: { services.carapace = { enable = true; engine = "apple"; image.package = pkgs.carapace-agent-image; image.load = true; }; }
