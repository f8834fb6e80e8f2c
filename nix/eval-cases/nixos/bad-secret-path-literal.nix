# A path literal would be copied into the world-readable store.
# expect: services.carapace.credentials.anthropic_api_key is the Nix path literal
# expect: config.age.secrets
{ services.carapace = { enable = true; credentials.anthropic_api_key = ./ok-podman-agenix.nix; }; }
