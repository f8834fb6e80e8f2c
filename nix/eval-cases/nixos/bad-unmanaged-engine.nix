# expect: virtualisation.docker.enable is false and services.carapace.manageEngine is false
{ services.carapace = { enable = true; engine = "docker"; manageEngine = false; }; }
