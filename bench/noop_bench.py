#!/usr/bin/env python3
"""A no-op `doit kernel:PROFILE` (everything up to date) against a no-op bare `make`.

    .venv/bin/python bench/noop_bench.py [--profile nfsroot] [--runs N] [--json]

Needs the profile built (`doit kernel:PROFILE` once). The anchor is the kernel's own
no-op: `make -s -C SRC O=BUILD <image>` in kbuild's build dir with kbuild's make
variables. Medians of N runs (alternating), min and max. Note: doit loads every task
first; a deb source of the site whose file is not in the cache makes that load consult
the package index (apt-get update) on every run (docs/decisions.md), so fetch every
source (`doit fetch`) before measuring, or the figure is the network's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
TARGET = 0.3


def stats(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    return time.perf_counter() - t, r.stdout + r.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="nfsroot")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from kbuild.build.make import make_variables
    from kbuild.kconfig.environment import base_environment, detect_toolchain
    from kbuild.site import layout
    from kbuild.site.load import load_site
    from kbuild.source.tree import require_tree

    site = load_site(REPO / "kbuild.toml")
    profile = site.profile(args.profile)
    build = layout.build_dir(site, profile)
    if not (build / "vmlinux").is_file() and not (build / "linux").is_file():
        print(f"{profile.name} is not built: run `doit kernel:{profile.name}` first", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    doit = [str(BIN / "doit"), f"kernel:{profile.name}"]
    _, out = timed(doit, env)                       # settle; must then be a no-op
    make = ["make", "-s", "-C", str(require_tree(site, profile)), f"O={build}",
            *make_variables(profile.arch, detect_toolchain()), profile.image]
    ours, bare = [], []
    for _ in range(args.runs):
        t, out = timed(doit, env)
        if "\n.  " in "\n" + out:
            print(f"not a no-op, doit ran tasks:\n{out}", file=sys.stderr)
            return 1
        ours.append(t)
        bare.append(timed(make, base_environment())[0])
    k, a = stats(ours), stats(bare)
    row = {"figure": f"no-op doit kernel:{profile.name}", "target": f"<= {TARGET} s",
           "kbuild": k, "anchor_name": "no-op make (bare)", "anchor": a,
           "ratio": k["median"] / a["median"], "ok": k["median"] <= TARGET}
    if args.json:
        print(json.dumps([row]))
    else:
        print(f"load {os.getloadavg()[0]:.1f}; n={args.runs}; doit median {k['median']:.2f} s "
              f"(min {k['min']:.2f}, max {k['max']:.2f}); bare make no-op {a['median']:.2f} s; "
              f"target <= {TARGET} s: {'ok' if row['ok'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
