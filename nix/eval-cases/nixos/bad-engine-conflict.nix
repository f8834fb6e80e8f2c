# expect: services.carapace.settings.runtime.engine
# expect: conflicting definition values
{ services.carapace = { enable = true; engine = "podman"; settings.runtime.engine = "docker"; }; }
