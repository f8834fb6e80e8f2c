# The core refuses a bare tag; so does the module.
# expect: services.carapace.settings.runtime.image
{ services.carapace = { enable = true; settings.runtime.image = "carapace-agent:latest"; }; }
