#!/usr/bin/env python3
"""Pool benchmark: N UML clients booting one read-only root at the same time.

Prints (never asserts), per root mode, over --runs runs (median, min, max): the time
until all N clients printed the marker, the wall time of the whole run (namespaces,
server start, boots, checks, tear-down), nfs-ganesha's CPU time during the boots, and
the failures (clients that did not pass every check; the export's sha256 compared).

Usage: .venv/bin/python bench/pool.py [--n 16] [--runs 5] [--mode ro-shared --mode overlay]
Needs root and the built uml profile (doit kernel:uml) in the site named by --site.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.lab.pool import boot_pool  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", default=str(REPO / "kbuild.toml"))
    ap.add_argument("--profile", default="uml")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mode", action="append", choices=("ro-shared", "overlay"))
    args = ap.parse_args()
    site = load_site(args.site)
    profile = site.profile(args.profile)
    for mode in args.mode or ["ro-shared", "overlay"]:
        up, wall, cpu, failures, changed = [], [], [], 0, 0
        for _ in range(args.runs):
            t = time.monotonic()
            r = boot_pool(site, profile, mode, n=args.n)
            wall.append(time.monotonic() - t)
            if r.all_up_seconds is not None:
                up.append(r.all_up_seconds)
            if r.server_cpu_seconds is not None:
                cpu.append(r.server_cpu_seconds)
            failures += len(r.failures)
            changed += not r.tree_unchanged
        print(f"pool {mode}: N={args.n}, {args.runs} runs")
        print(f"  all {args.n} up after: {spread(up)}")
        print(f"  whole run (wall):    {spread(wall)}")
        print(f"  server CPU time:     {spread(cpu)}")
        print(f"  failures: {failures} clients; export changed in {changed} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
