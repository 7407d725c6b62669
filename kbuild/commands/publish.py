"""``kbuild publish``: write the TFTP tree on a real server, after verifying every built
profile and its hosts."""
from __future__ import annotations

import argparse
import sys

from kbuild.commands.common import add_target_arguments, target_dir
from kbuild.publish import stage
from kbuild.site.load import load_site


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")


def run(args: argparse.Namespace) -> int:
    from kbuild.verify.profile import verify_profile
    from kbuild.verify.render import failed_error

    site = load_site(args.site)
    target = target_dir(site, args.to)
    # Never publish an entry whose kernel cannot boot it (profile or host entries).
    for built in stage.built_profiles(site):
        checked = verify_profile(site, built.profile)
        if not checked.passed:
            raise failed_error(checked)
    report, plan = stage.stage_with_plan(site, target, dry_run=args.dry_run)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.dry_run:
        for rel in report.written:
            print(f"would write  {rel}")
        for rel in report.removed:
            print(f"would remove {rel}")
    print(report.summary(), file=sys.stderr)
    return 0


