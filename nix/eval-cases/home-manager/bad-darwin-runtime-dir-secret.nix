# platform: darwin
# expect: macOS has no XDG_RUNTIME_DIR
{ services.carapace = { enable = true; credentials.anthropic_api_key = "\${XDG_RUNTIME_DIR}/agenix/anthropic"; }; }
