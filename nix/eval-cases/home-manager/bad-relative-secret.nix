# expect: must be an absolute path or start with %t/
{ services.carapace = { enable = true; plugins.echo.credentials.token = "secrets/echo"; }; }
