# expect: services.carapace.image.load needs image.package
{ services.carapace = { enable = true; skopeo = null; }; }
