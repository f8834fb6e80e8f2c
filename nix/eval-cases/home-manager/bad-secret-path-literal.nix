# expect: is the Nix path literal
{ services.carapace = { enable = true; credentials.anthropic_api_key = ./ok-linux-agenix.nix; }; }
