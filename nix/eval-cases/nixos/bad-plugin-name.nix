# expect: plugin name `Evil:Name` must match
{ services.carapace = { enable = true; plugins."Evil:Name".enable = true; }; }
