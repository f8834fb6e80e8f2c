# expect: services.carapace.credentials.anthropic-api-key: the model proxy reads only anthropic_api_key and anthropic_oauth_token
{ services.carapace = { enable = true; credentials.anthropic-api-key = "/run/agenix/anthropic"; }; }
