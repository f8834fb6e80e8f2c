# A plugin folder given as a string outside the store (managed by other means): it cannot be
# read in the build sandbox, so it is linked without the build-time manifest check.
# check: 'ln -s /srv/carapace/notes "$out/notes"' in d["settings_text"] and "test -f /srv" not in d["settings_text"]
# check: toml["plugins"]["notes"] == {"enabled": True, "config": {}}
{
  services.carapace = {
    enable = true;
    groups.main.tools = [ "*" ];
    plugins.notes.path = "/srv/carapace/notes";
  };
}
