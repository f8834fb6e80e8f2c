# A package where a file path belongs (types.path accepts anything that coerces to a store
# path): refused with the assertion's message, not a type error.
# expect: services.carapace.credentials.anthropic_api_key is a set that stands for a store path
{ pkgs, ... }: { services.carapace = { enable = true; credentials.anthropic_api_key = pkgs.writeText "key" "hunter2"; }; }
