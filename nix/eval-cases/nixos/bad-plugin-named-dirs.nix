# expect: `dirs` is the [plugins] key
{ services.carapace = { enable = true; plugins.dirs.enable = true; }; }
