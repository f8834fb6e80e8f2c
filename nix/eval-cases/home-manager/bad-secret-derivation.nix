# expect: services.carapace.plugins.echo.credentials.token is a set that stands for a store path
{ pkgs, ... }: { services.carapace = { enable = true; plugins.echo.credentials.token = pkgs.writeText "token" "hunter2"; }; }
