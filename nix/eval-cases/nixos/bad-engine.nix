# expect: services.carapace.engine
# expect: is not of type
{ services.carapace = { enable = true; engine = "lxc"; }; }
