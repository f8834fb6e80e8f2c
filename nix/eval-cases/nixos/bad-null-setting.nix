# TOML has no null.
# expect: services.carapace.settings.runtime.oci_runtime
# expect: TOML value
{ services.carapace = { enable = true; settings.runtime.oci_runtime = null; }; }
