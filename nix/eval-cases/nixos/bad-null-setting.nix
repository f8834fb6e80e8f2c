# TOML has no null.
# expect: services.carapace.settings.runtime.memory_limit
# expect: TOML value
{ services.carapace = { enable = true; settings.runtime.memory_limit = null; }; }
