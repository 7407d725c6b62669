#!/usr/bin/env python3
"""Boot to init's marker in the lab (issue 13's last row): BIOS PXE of nfsroot (PXELINUX,
QEMU TCG), dom0 (PXELINUX → Xen → dom0) and UML (NFSv4 over a vector tap, DHCP), each
RUNS times, with the median time of each phase the console shows (firmware, loader,
kernel, NFS mount, init).

    .venv/bin/python bench/boot_bench.py [--runs 5] [--only nfsroot dom0 uml] [--json]

Needs the profiles built and staged (`doit kernel:nfsroot kernel:dom0 kernel:uml`) and
root (the lab makes network namespaces). The anchor is the menu-timeout-free target the
issue sets; there is no external tool to race, so ratio is null. Asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _timing import row, stats  # noqa: E402

from kbuild.lab.qemu import boot_pxe  # noqa: E402
from kbuild.lab.run import BootResult, phase_seconds  # noqa: E402
from kbuild.lab.uml import DEFAULT_VARIANTS, boot_uml_variant  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402
from kbuild.site.model import Profile, Site  # noqa: E402

# (profile, what, target seconds, how to boot it once)
Boot = Callable[[Site, Profile], BootResult]
CASES: list[tuple[str, str, float, Boot]] = [
    ("nfsroot", "BIOS PXE (PXELINUX, TCG)", 12.0, lambda s, p: boot_pxe(s, p, timeout=300)),
    ("dom0", "dom0 (PXELINUX → Xen, TCG)", 15.0, lambda s, p: boot_pxe(s, p, timeout=300)),
    ("uml", "UML (NFSv4, vector, DHCP)", 1.0,
     lambda s, p: boot_uml_variant(s, p, DEFAULT_VARIANTS[0], timeout=120)),
]
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*", default=None, help="profiles to boot")
    ap.add_argument("--site", type=Path, default=REPO / "kbuild.toml")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    site = load_site(args.site)
    rows: list[dict[str, Any]] = []
    for name, what, target, boot in CASES:
        if args.only is not None and name not in args.only:
            continue
        profile = site.profile(name)
        times: list[float] = []
        per_phase: dict[str, list[float]] = {}
        for _ in range(args.runs):
            r = boot(site, profile)
            if r.marker_seconds is None:
                print(f"{name}: no marker ({r.reason})", file=sys.stderr)
                return 1
            times.append(r.marker_seconds)
            for phase, seconds in phase_seconds(r.milestones, r.marker_seconds).items():
                per_phase.setdefault(phase, []).append(seconds)
        median_phases = ", ".join(f"{k} {statistics.median(v):.1f} s" for k, v in per_phase.items())
        got = row(f"boot to marker: {what}", f"<= {target:g} s", times, lambda k: True)
        got["ok"] = got["kbuild"]["median"] <= target
        rows.append({**got, "phases": median_phases})
        if not args.json:
            k = stats(times)
            print(f"boot to marker: {what:34s} median {k['median']:5.1f} s [{k['min']:.1f}-"
                  f"{k['max']:.1f}] target <= {target:g} s  phases: {median_phases}", flush=True)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
