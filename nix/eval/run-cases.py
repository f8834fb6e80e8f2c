#!/usr/bin/env python3
"""Evaluates every case under nix/eval-cases/ with nixpkgs lib's evalModules (nix/eval/eval.nix).

A case is a module. `ok-*` must evaluate; its `# check: <python>` lines must hold, with `d` the
evaluation's JSON and `toml` config.toml as Python's own tomllib reads it. `bad-*` must fail,
and its error must contain every `# expect: <text>`. `# platform: darwin` evaluates the
home-manager module as on macOS. Every ok case must also keep the invariants in `invariants`.
Usage: run-cases.py NIXLIB  (a nixpkgs lib directory). Prints `N passed, M failed`.
"""
import json
import os
import pathlib
import subprocess
import sys
import tomllib

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import exposure  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = ROOT / "nix" / "eval-cases"
EXPOSURE_TARGET = 2.0


def header(path, key):
    prefix = f"# {key}:"
    return [line[len(prefix):].strip() for line in path.read_text().splitlines() if line.startswith(prefix)]


def evaluate(nixlib, klass, case, darwin):
    expr = (f'import {ROOT}/nix/eval/eval.nix {{ nixlib = {nixlib}; class = "{klass}"; '
            f'isDarwin = {"true" if darwin else "false"}; case = {case}; }}')
    return subprocess.run(["nix-instantiate", "--read-write-mode", "--eval", "--strict", "--json", "-E", expr],
                           capture_output=True, text=True)


def derivation_text(drv):
    """The script a stub derivation carries (writeShellScript's `text`, runCommand's buildCommand)."""
    for command in (["show-derivation"], ["derivation", "show"]):  # Nix 2.8, then Nix >= 2.15
        out = subprocess.run(["nix", "--extra-experimental-features", "nix-command", *command, drv],
                             capture_output=True, text=True)
        if out.returncode == 0:
            break
    else:
        raise RuntimeError(f"cannot read {drv}: {out.stderr.strip()}")
    shown = json.loads(out.stdout)
    env = next(iter(shown.get("derivations", shown).values()))["env"]
    return env.get("text") or env.get("buildCommand", "")


def invariants(klass, d, toml):
    assert toml == d["configJSON"], "config.toml does not read back as the settings it was made from"
    if klass == "nixos":
        sc = d["unit"]["serviceConfig"]
        creds = sc.get("LoadCredential", [])
        units = [sc] + ([d["imageUnit"]["serviceConfig"]] if d.get("imageUnit") else [])
    else:
        creds = [line.split("=", 1)[1] for text in d["systemdUnits"].values()
                 for line in text.splitlines() if line.startswith("LoadCredential=")]
        units = []
    for entry in creds:
        ident, path = entry.split(":", 1)
        assert not path.startswith("/nix/store"), f"credential {ident} is read from the store"
    for sc in units[:1]:
        assert sc["ProtectSystem"] == "strict" and sc["CapabilityBoundingSet"] == [""] and sc["UMask"] == "0077"
        assert sc["NoNewPrivileges"] is True and (sc.get("DynamicUser") or sc.get("User") not in (None, "root"))
        score, _ = exposure.exposure(sc)
        assert score < EXPOSURE_TARGET, f"estimated systemd-analyze exposure {score} is not below {EXPOSURE_TARGET}"


def run_case(nixlib, klass, case):
    darwin = "darwin" in header(case, "platform")
    result = evaluate(nixlib, klass, case, darwin)
    name = f"{klass}/{case.stem}" + (" (darwin)" if darwin else "")
    if case.name.startswith("bad-"):
        if result.returncode == 0:
            return False, f"FAIL {name}: evaluated, but must not"
        error = " ".join(result.stderr.split())
        missing = [e for e in header(case, "expect") if e not in error]
        if missing:
            return False, f"FAIL {name}: the error lacks {missing!r}: {error[:400]}"
        at = error.find("Failed assertions:")
        shown = error[at:] if at >= 0 else error[error.find("error:"):]
        return True, f"PASS {name}: {shown[:260]}"
    if result.returncode != 0:
        return False, f"FAIL {name}: {' '.join(result.stderr.split())[:600]}"
    d = json.loads(result.stdout)
    for key in [k for k in d if k.endswith("Drvs")]:
        d[key[:-len("Drvs")] + "_text"] = "".join(derivation_text(drv) for drv in d[key])
    toml = tomllib.loads(d["configToml"])
    try:
        invariants(klass, d, toml)
        for check in header(case, "check"):
            assert eval(check, {"d": d, "toml": toml}), check  # noqa: S307 (our own case files)
    except (AssertionError, KeyError, TypeError, IndexError) as e:
        return False, f"FAIL {name}: {type(e).__name__}: {e}"
    note = ""
    if klass == "nixos":
        score, costly = exposure.exposure(d["unit"]["serviceConfig"])
        note = f" | estimated exposure {score} (costs: {', '.join(f'{n} {c}' for n, c in costly[:6])})"
    return True, f"PASS {name}{note}"


def main():
    nixlib = sys.argv[1] if len(sys.argv) > 1 else os.environ["NIXLIB"]
    passed = failed = 0
    for klass, folder in (("nixos", "nixos"), ("homeManager", "home-manager")):
        for case in sorted((CASES / folder).glob("*.nix")):
            ok, line = run_case(nixlib, klass, case)
            print(line)
            passed += ok
            failed += not ok
    print(f"module evaluation: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
