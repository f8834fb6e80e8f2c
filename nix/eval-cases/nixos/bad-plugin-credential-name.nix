# expect: services.carapace.plugins.echo.credentials: credential name `../x` must match
{ services.carapace = { enable = true; plugins.echo.credentials."../x" = "/run/secrets/x"; }; }
