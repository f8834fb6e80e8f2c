# dynamicUser is a NixOS option; a user service has no such thing.
# expect: The option `services.carapace.dynamicUser' does not exist
{ services.carapace = { enable = true; dynamicUser = false; }; }
