#!/usr/bin/env python3
"""Checks that Cargo.toml's `rust-version` is the true minimum for the locked tree.

The claim is true when it is
  * at least every locked package's own `rust-version` (a lower claim is false: cargo
    refuses, or the dependency fails to compile, on the older compiler), and
  * no higher than needed: exactly the larger of that maximum and the floor of the
    crate's edition (a higher claim shuts out compilers that build the crate).
What wsgate's own code uses is checked elsewhere: std APIs by clippy's `incompatible_msrv`
(in `cargo clippy --all-targets -- -D warnings`, which reads this `rust-version`), which is
why clippy.toml must not set an `msrv` of its own. Language features newer than the
dependencies' floor are not detectable here; docs/msrv.md says how the number was found.

Usage: python3 tools/msrv.py   (from anywhere in the repository; needs cargo on PATH)
Exit status 0 when the claim holds, 1 with the reasons otherwise.
"""

import json
import pathlib
import re
import subprocess
import sys

# The first Rust release of each edition: cargo refuses an older rust-version for it.
EDITION_FLOOR = {"2015": "1.0", "2018": "1.31", "2021": "1.56", "2024": "1.85"}

# Set when wsgate's own code needs a newer Rust than its dependencies and edition do:
# ("1.NN", "what needs it, and where"). None today (docs/msrv.md).
OWN_CODE = None


def version(text):
    """'1.88' or '1.88.0' -> (1, 88, 0)."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def shown(v):
    return ".".join(str(p) for p in v[:2]) + (f".{v[2]}" if v[2] else "")


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    root_id = meta["resolve"]["root"]
    # Every package cargo resolved, on any platform, for normal, build and dev use.
    resolved = {node["id"] for node in meta["resolve"]["nodes"]}
    packages = {p["id"]: p for p in meta["packages"]}
    ours = packages[root_id]
    problems = []

    if not ours.get("rust_version"):
        print("tools/msrv.py: Cargo.toml sets no [package] rust-version", file=sys.stderr)
        return 1
    declared = version(ours["rust_version"])

    needs = {}
    for pid in resolved - {root_id}:
        p = packages[pid]
        if p.get("rust_version"):
            needs.setdefault(version(p["rust_version"]), []).append(f"{p['name']} {p['version']}")
    dep_max = max(needs) if needs else (0, 0, 0)
    edition_floor = version(EDITION_FLOOR[ours["edition"]])
    own = version(OWN_CODE[0]) if OWN_CODE else (0, 0, 0)
    required = max(dep_max, edition_floor, own)
    if required == own and own > dep_max:
        why = f"wsgate's own code needs {shown(own)} ({OWN_CODE[1]})"
    elif dep_max >= edition_floor:
        why = f"locked dependencies need {shown(dep_max)} ({', '.join(sorted(needs[dep_max]))})"
    else:
        why = f"edition {ours['edition']} needs {shown(edition_floor)}"

    if declared < required:
        problems.append(
            f"rust-version = \"{shown(declared)}\" is false: {why}. Raise it to \"{shown(required)}\"."
        )
        newer = sorted(v for v in needs if v > declared)
        for v in newer:
            problems.append(f"  needs {shown(v)}: {', '.join(sorted(needs[v]))}")
    elif declared > required:
        problems.append(
            f"rust-version = \"{shown(declared)}\" is higher than needed: {why}. Lower it to "
            f"\"{shown(required)}\", or, if wsgate's own code needs more, set OWN_CODE in "
            "tools/msrv.py and say why in docs/msrv.md."
        )

    clippy_toml = root / "clippy.toml"
    if clippy_toml.exists() and re.search(r"^\s*msrv\s*=", clippy_toml.read_text(), re.M):
        problems.append(
            "clippy.toml sets `msrv`: clippy would check std APIs against it instead of "
            "Cargo.toml's rust-version; delete it."
        )

    rustc = subprocess.run(["rustc", "-V"], cwd=root, check=True, capture_output=True, text=True)
    found = re.search(r"rustc (\d+\.\d+\.\d+)", rustc.stdout)
    if found and version(found.group(1)) < declared:
        problems.append(f"this CI's {rustc.stdout.strip()} is older than rust-version {shown(declared)}")

    if problems:
        print("tools/msrv.py: " + "\n".join(problems), file=sys.stderr)
        return 1
    print(
        f"rust-version {shown(declared)} holds: {why}; "
        f"{len(resolved) - 1} locked packages checked; built here with {rustc.stdout.strip()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
