# One VM test per engine: the service starts hardened, `carapace doctor` passes, a session
# runs the scripted agent in the real image, the container has no network, and the model key
# is nowhere but its root-only file: not in the store, the unit, the core's environment, or
# anything the agent can read.
{ engine }:
{ pkgs, self }:
pkgs.testers.runNixOSTest {
  name = "carapace-${engine}";
  nodes.machine = {
    # runNixOSTest gives the node this `pkgs` (with the overlay, and claude-code allowed).
    imports = [ self.nixosModules.default ];
    virtualisation = { memorySize = 3072; diskSize = 8192; cores = 2; };
    # Shaped like an agenix secret (root:root 0400 outside the store), but made at boot so
    # its value is in no derivation.
    systemd.services.test-secret = {
      requiredBy = [ "carapace.service" ];
      before = [ "carapace.service" ];
      serviceConfig = { Type = "oneshot"; RemainAfterExit = true; UMask = "0077"; };
      script = ''
        install -d -m 0700 /run/agenix
        key=$(tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 40)
        printf 'sk-ant-test-%s' "$key" > /run/agenix/anthropic
        chmod 0400 /run/agenix/anthropic
      '';
    };
    services.carapace = {
      enable = true;
      inherit engine;
      credentials.anthropic_api_key = "/run/agenix/anthropic";
      groups.main.tools = [ "*" ];
      settings.agent.command = [ "/bin/bash" "-c" (builtins.readFile ./scripted-agent.sh) "scripted-agent" "{prompt}" ];
    };
  };

  testScript = ''
      machine.wait_for_unit("carapace.service")
      machine.succeed("systemctl is-active carapace-image.service")

      with subtest("the unit is hardened: systemd-analyze security below 2"):
          print(machine.succeed("systemd-analyze security carapace.service"))
          machine.succeed("systemd-analyze security --threshold=19 carapace.service")

      with subtest("carapace doctor passes"):
          print(machine.succeed("carapace-ctl doctor"))

      with subtest("a session runs the scripted agent in the real image"):
          out = machine.succeed("carapace-ctl prompt --quiet --group main 'scan what you can'")
          assert "scanned" in out, out
          workspace = machine.succeed("readlink -f /var/lib/carapace").strip() + "/groups/main"
          assert "hello from the box" in machine.succeed(f"cat {workspace}/echo.json")

      with subtest("the container has no network"):
          assert machine.succeed(f"cat {workspace}/interfaces.txt").split() == ["lo"]

      with subtest("the key is nowhere but its file"):
          key = machine.succeed("cat /run/agenix/anthropic").strip()
          assert key.startswith("sk-ant-test-") and len(key) == 52
          scan = machine.succeed(f"cat {workspace}/scan.txt")
          assert key not in scan, "the agent could read the key"
          machine.succeed(f"test -z \"$(nix-store -qR /run/current-system | xargs grep -rlsF -- {key} || true)\"")
          machine.succeed(f"! systemctl cat carapace.service carapace-image.service | grep -F -- {key}")
          machine.succeed(f"! systemctl show carapace.service | grep -F -- {key}")
          machine.succeed(f"! tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value carapace.service)/environ | grep -F -- {key}")
          machine.succeed(f"! tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value carapace.service)/cmdline | grep -F -- {key}")
    '';
}
