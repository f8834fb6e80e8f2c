# docker with engineSocket = null: no DOCKER_HOST anywhere, the client's default socket is used
# (the load goes to skopeo's default daemon host too).
# check: "DOCKER_HOST" not in d["unit"]["environment"] and "DOCKER_HOST" not in d["ctl"]
# check: "--dest-daemon-host" not in d["imageLoad_text"] and "socket=" not in d["imageLoad_text"]
{ services.carapace = { enable = true; engine = "docker"; engineSocket = null; groups.main.tools = [ "*" ]; }; }
