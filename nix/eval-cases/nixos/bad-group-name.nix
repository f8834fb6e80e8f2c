# expect: group name `../etc` must match
{ services.carapace = { enable = true; groups."../etc".tools = [ ]; }; }
