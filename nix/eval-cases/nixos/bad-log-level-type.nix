# expect: services.carapace.settings.core.log_level
{ services.carapace = { enable = true; settings.core.log_level = 3; }; }
