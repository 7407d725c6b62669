#!/usr/bin/env python3
"""Configure where users wait: `doit -a config:PROFILE` (a fragment edited, the Kconfig
tree unchanged) against `make olddefconfig` on the same .config.

    .venv/bin/python bench/configure_bench.py [--profile nfsroot] [--runs N] [--json]

Needs the profile's tree (`doit config:PROFILE` once). Rows, medians of N runs
alternating, min and max:

* configure with the parsed-tree cache warm (what every run after the first gets);
* configure with the cache off (KBUILD_KCONFIG_CACHE=off: kconfiglib parses the tree);

both against `make -s O=DIR olddefconfig` on a copy of the .config kbuild wrote, with the
same make variables and environment kbuild builds with. doit is forced (-a), as an
edited fragment forces it; the .config content does not change, so nothing downstream
reruns. PYTHONDONTWRITEBYTECODE is removed (bytecode caches as users have them).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
TARGET = 0.5


def stats(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def timed(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{r.stdout}{r.stderr}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="nfsroot")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from kbuild.build.make import make_variables
    from kbuild.kconfig.environment import base_environment, detect_toolchain
    from kbuild.site import layout
    from kbuild.site.load import load_site
    from kbuild.source.tree import require_tree

    site = load_site(REPO / "kbuild.toml")
    profile = site.profile(args.profile)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    doit = [str(BIN / "doit"), "-a", f"config:{profile.name}"]
    timed(doit, env)                                   # tree, cache and bytecode warm
    tree = require_tree(site, profile)
    config = layout.config_path(site, profile)
    make = ["make", "-s", "-C", str(tree), *make_variables(profile.arch, detect_toolchain())]
    cached, uncached, olddef = [], [], []
    with tempfile.TemporaryDirectory(prefix="configure-bench-") as tmp:
        out = Path(tmp)
        for _ in range(args.runs):
            shutil.copyfile(config, out / ".config")
            olddef.append(timed([*make, f"O={out}", "olddefconfig"], base_environment()))
            cached.append(timed(doit, env))
            uncached.append(timed(doit, {**env, "KBUILD_KCONFIG_CACHE": "off"}))
    a = stats(olddef)
    rows = []
    for name, samples, target, ok_if in (
            ("configure, Kconfig tree unchanged (cache warm)", cached,
             f"<= {TARGET} s", lambda s: s["median"] <= TARGET),
            ("configure, cache off (kconfiglib parses the tree)", uncached,
             "(for reference)", lambda s: True)):
        k = stats(samples)
        rows.append({"figure": f"{name}: doit -a config:{profile.name}", "target": target,
                     "kbuild": k, "anchor_name": "make olddefconfig", "anchor": a,
                     "ratio": k["median"] / a["median"], "ok": ok_if(k)})
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"profile {profile.name}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"n={args.runs}")
    for r in rows:
        k = r["kbuild"]
        print(f"{r['figure']}: median {k['median']:.2f} s (min {k['min']:.2f}, max {k['max']:.2f}); "
              f"make olddefconfig {a['median']:.2f} s; ratio {r['ratio']:.2f}; target {r['target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
