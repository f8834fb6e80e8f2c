# expect: services.carapace.plugins.echo.groups names group `nobody`
{ services.carapace = { enable = true; groups.main.tools = [ "*" ]; plugins.echo.groups = [ "nobody" ]; }; }
