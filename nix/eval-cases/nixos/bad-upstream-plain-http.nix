# expect: services.carapace.settings.model.upstream
{ services.carapace = { enable = true; settings.model.upstream = "http://api.anthropic.com"; }; }
