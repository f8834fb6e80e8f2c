# expect: (Apple's container) exists only on macOS
{ services.carapace = { enable = true; engine = "apple"; }; }
