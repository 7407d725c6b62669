"""``kbuild verify-build PROFILE``: rebuild from the same locked inputs in a scratch
directory with the compiler cache off and say whether the image is bit-identical to the
recorded build. Exit status: 0 identical, 1 different, 2 bad input."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kbuild.build.rebuild import verify_build
from kbuild.commands.common import add_site_argument
from kbuild.site.load import load_site
from kbuild.util.progress import ProgressLine


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", metavar="PROFILE", help="a built profile of kbuild.toml")
    add_site_argument(p)
    p.add_argument("--scratch", type=Path, metavar="DIR",
                   help="rebuild in DIR (kept; an existing one is rebuilt incrementally); "
                        "default: a fresh directory under artifacts/verify-build, removed "
                        "when the images are identical")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--json", action="store_true", help="print the result as one JSON document")


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    progress = ProgressLine()
    try:
        report = verify_build(site, site.profile(args.profile), args.scratch, args.keep, progress)
    finally:
        progress.done()
    if args.json:
        print(json.dumps({"profile": report.profile, "identical": report.identical,
                          "expected_sha256": report.expected_sha256,
                          "rebuilt_sha256": report.rebuilt_sha256,
                          "difference": report.difference, "config_changed": report.config_changed,
                          "scratch": str(report.scratch) if report.kept else None,
                          "seconds": round(report.seconds, 1), "log": str(report.log)}, indent=2))
    print(report.summary(), file=sys.stderr)
    return 0 if report.identical else 1
