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
import sys
from pathlib import Path

from _timing import REPO, alternate, emit, row, run_timed

sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
TARGET = 0.3


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
    doit = [str(BIN / "doit"), f"kernel:{profile.name}"]
    run_timed(doit)                                 # settle; must then be a no-op
    make = ["make", "-s", "-C", str(require_tree(site, profile)), f"O={build}",
            *make_variables(profile.arch, detect_toolchain()), profile.image]

    def noop() -> float:
        t, out = run_timed(doit)
        if "\n.  " in "\n" + out:
            raise SystemExit(f"not a no-op, doit ran tasks:\n{out}")
        return t

    samples = alternate(args.runs, {"doit": noop,
                                    "make": lambda: run_timed(make, base_environment())[0]})
    rows = [row(f"no-op doit kernel:{profile.name}", f"<= {TARGET} s", samples["doit"],
                lambda k: k["median"] <= TARGET, "no-op make (bare)", samples["make"])]
    emit(rows, args.json, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
