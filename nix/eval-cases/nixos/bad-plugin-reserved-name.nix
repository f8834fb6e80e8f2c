# expect: the plugin name `model` is reserved by the core
{ services.carapace = { enable = true; plugins.model = { enable = true; credentials.anthropic_api_key = "/run/agenix/x"; }; }; }
