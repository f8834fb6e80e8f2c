# config.toml has no [logging]: an unknown section is an evaluation error.
# expect: The option `services.carapace.settings.logging' does not exist
{ services.carapace = { enable = true; settings.logging.level = "debug"; }; }
