# expect: is in /nix/store, which is world-readable
{ services.carapace = { enable = true; credentials.anthropic_api_key = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-key"; }; }
