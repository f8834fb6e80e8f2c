# A plugin setting named like a secret evaluates, with a warning to use credentials instead.
# check: any("plugins.notes.settings.api_token looks like a secret" in w for w in d["warnings"])
# check: toml["plugins"]["notes"]["config"] == {"api_token": "oops", "max_tokens": 5}
{
  services.carapace = {
    enable = true;
    groups.main.tools = [ "*" ];
    plugins.notes.settings = { api_token = "oops"; max_tokens = 5; };
  };
}
