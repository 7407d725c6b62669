#!/usr/bin/env python3
"""A no-op `doit kernel:PROFILE` (everything up to date) against a no-op of kbuild's own make.

    .venv/bin/python bench/noop_bench.py [--profile nfsroot] [--runs N] [--json]

Needs the profile built (`doit kernel:PROFILE` once). The anchor is the kernel's own
no-op: the build record's `reproducer` (the very make command kbuild ran, with its
variables and environment; a make with other variables would rebuild the tree), run by
bash in kbuild's build dir. One untimed run of each settles first. Medians of N runs
(alternating), min and max. Note: doit loads every task first; a deb source whose file
is not in the cache and that the asked task needs makes that load consult the package
index (docs/decisions.md), so fetch every source (`doit fetch`) before measuring.
"""
from __future__ import annotations

import argparse
import json
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
    from kbuild.site import layout
    from kbuild.site.load import load_site

    site = load_site(REPO / "kbuild.toml")
    profile = site.profile(args.profile)
    build = layout.build_dir(site, profile)
    if not (build / "vmlinux").is_file() and not (build / "linux").is_file():
        print(f"{profile.name} is not built: run `doit kernel:{profile.name}` first", file=sys.stderr)
        return 2
    doit = [str(BIN / "doit"), f"kernel:{profile.name}"]
    run_timed(doit)                                 # settle; must then be a no-op
    record = json.loads(layout.build_record(site, profile).read_text())
    make = ["bash", "-c", record["reproducer"]]
    run_timed(make)                                 # settle: make's own no-op from here on

    def noop() -> float:
        t, out = run_timed(doit)
        if "\n.  " in "\n" + out:
            raise SystemExit(f"not a no-op, doit ran tasks:\n{out}")
        return t

    samples = alternate(args.runs, {"doit": noop,
                                    "make": lambda: run_timed(make)[0]})
    rows = [row(f"no-op doit kernel:{profile.name}", f"<= {TARGET} s", samples["doit"],
                lambda k: k["median"] <= TARGET, "no-op make (the reproducer)", samples["make"])]
    emit(rows, args.json, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
