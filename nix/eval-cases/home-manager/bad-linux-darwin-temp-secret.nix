# expect: exists only on macOS
{ services.carapace = { enable = true; credentials.anthropic_api_key = "$(getconf DARWIN_USER_TEMP_DIR)/agenix/anthropic"; }; }
