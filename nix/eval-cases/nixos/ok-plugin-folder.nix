# A plugin given as a folder (a Nix path, copied to the store) rather than a package.
# check: toml["plugins"]["notes"] == {"enabled": True, "config": {"dir": "/var/lib/notes"}}
# check: len(toml["plugins"]["dirs"]) == 1 and d["unit"]["path"] == []
# check: "-stubs/manifest.json || {" in d["settings_text"] and "-stubs \"$out/notes\"" in d["settings_text"]
{
  services.carapace = {
    enable = true;
    groups.main.tools = [ "*" ];
    plugins.notes = { path = ../../eval/stubs; settings.dir = "/var/lib/notes"; };
  };
}
