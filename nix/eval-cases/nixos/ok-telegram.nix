# The bundled Telegram plugin, configured: its token from sops-nix by LoadCredential, its
# chat and user maps in the config (ids, no secret); nothing turns it off.
# check: toml["plugins"]["telegram"]["enabled"] is True
# check: toml["plugins"]["telegram"]["groups"] == ["main"]
# check: toml["plugins"]["telegram"]["capabilities"] == ["approvals", "kill_switch"]
# check: toml["plugins"]["telegram"]["config"]["chats"] == {"123456789": "main"}
# check: toml["plugins"]["telegram"]["config"]["users"] == {"123456789": "owner"}
# check: d["unit"]["serviceConfig"]["LoadCredential"] == ["telegram.bot_token:/run/secrets/carapace/telegram"]
{
  services.carapace = {
    enable = true;
    groups.main.tools = [ "*" ];
    plugins.telegram = {
      groups = [ "main" ];
      capabilities = [ "approvals" "kill_switch" ];
      settings = {
        chats."123456789" = "main";
        users."123456789" = "owner";
      };
      credentials.bot_token = "/run/secrets/carapace/telegram";
    };
  };
}
