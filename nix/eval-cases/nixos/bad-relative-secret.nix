# expect: services.carapace.credentials.anthropic_api_key = "secrets/anthropic" is not an absolute path
{ services.carapace = { enable = true; credentials.anthropic_api_key = "secrets/anthropic"; }; }
