#!/usr/bin/env python3
"""Per-profile figures: last build time, image size, and boot-to-marker seconds.

Build times come from each profile's build record (artifacts/build/<p>/kbuild-build.json,
the wall time of the last real build); boots are run now (`--no-boot` skips them).
Prints a table; asserts nothing. Usage: .venv/bin/python bench/profiles.py [profiles...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.build import kernel as pipeline  # noqa: E402
from kbuild.errors import KbuildError  # noqa: E402
from kbuild.lab import boot as bootlab  # noqa: E402
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profiles", nargs="*")
    ap.add_argument("--no-boot", action="store_true")
    args = ap.parse_args()
    site = load_site(REPO / "kbuild.toml")
    names = args.profiles or list(site.profiles)
    rows = []
    for name in names:
        p = site.profile(name)
        try:
            rec = pipeline.read_build_record(site, p)
        except KbuildError:
            rows.append((name, p.image, "not built", "", ""))
            continue
        size = f"{int(rec['image_size']) / 2**20:.2f} MiB"
        build = f"{float(rec['build_seconds']):.0f} s"
        boot = ""
        if not args.no_boot and (layout.stage_dir(site) / "kbuild-manifest.json").is_file():
            t = time.monotonic()
            try:
                res = bootlab.boot_profile(site, p)
                if p.arch == "um":
                    boot = "; ".join(e for e in res.evidence if "marker after" in e)
                else:
                    boot = f"{res.marker_seconds:.1f} s to marker ({time.monotonic() - t:.1f} s wall)"
            except KbuildError as e:
                boot = f"failed: {e.message[:80]}"
        rows.append((name, p.image, size, build, boot))
    print(f"{'profile':<10} {'image':<8} {'size':<11} {'last build':<11} boot")
    for r in rows:
        print(f"{r[0]:<10} {r[1]:<8} {r[2]:<11} {r[3]:<11} {r[4]}")


if __name__ == "__main__":
    main()
