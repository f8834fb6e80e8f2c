# expect: services.carapace.engine
{ services.carapace = { enable = true; engine = "apple"; }; }
