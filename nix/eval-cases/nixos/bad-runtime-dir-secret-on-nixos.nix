# agenix-HM style reference: fine for home-manager, not for a system unit.
# expect: is not an absolute path
{ services.carapace = { enable = true; credentials.anthropic_api_key = "\${XDG_RUNTIME_DIR}/agenix/anthropic"; }; }
