# A string that carries a store path (writeText of the value) is refused too.
# expect: refers to a store path
{ pkgs, ... }: { services.carapace = { enable = true; plugins.echo.credentials.token = "${pkgs.writeText "token" "hunter2"}"; }; }
