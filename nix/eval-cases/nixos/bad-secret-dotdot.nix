# expect: no `..` component
{ services.carapace = { enable = true; credentials.anthropic_api_key = "/run/agenix/../../etc/shadow"; }; }
