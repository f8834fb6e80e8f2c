# expect: services.carapace.settings.runtime.agent_uid
{ services.carapace = { enable = true; settings.runtime.agent_uid = 0; }; }
