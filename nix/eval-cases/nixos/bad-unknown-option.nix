# expect: The option `services.carapace.pluginz' does not exist
{ services.carapace = { enable = true; pluginz = { }; }; }
