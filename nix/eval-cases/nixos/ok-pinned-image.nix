# The user pins the image; other runtime settings pass through; the agent's ids move.
# check: toml["runtime"]["image"] == "sha256:" + "ab" * 32 and "image-id" not in d["configBuild"]
# check: ".runtime.image_layers = $layers[0]" in d["configBuild"] and ".runtime.image =" not in d["configBuild"]
# check: "want=" + "ab" * 32 in d["imageLoad_text"] and "read -r want" not in d["imageLoad_text"]
# check: toml["runtime"]["memory"] == "2g" and toml["runtime"]["oci_runtime"] == "runsc"
# check: toml["runtime"]["agent_uid"] == 200000 and toml["runtime"]["agent_gid"] == 200000
# check: d["users"]["groups"]["carapace-agent"]["gid"] == 200000
# check: toml["core"] == {"log_level": "carapace=debug", "tool_deadline_secs": 20}
# check: toml["agent"]["command"] == ["claude", "-p", "{prompt}"]
# check: toml["model"] == {"daily_token_budget": 200000}
{
  services.carapace = {
    enable = true;
    groups.main.tools = [ "*" ];
    settings = {
      core = { log_level = "carapace=debug"; tool_deadline_secs = 20; };
      runtime = {
        image = "sha256:abababababababababababababababababababababababababababababababab";
        memory = "2g";
        oci_runtime = "runsc";
        agent_uid = 200000;
        agent_gid = 200000;
      };
      agent.command = [ "claude" "-p" "{prompt}" ];
      model.daily_token_budget = 200000;
    };
  };
}
