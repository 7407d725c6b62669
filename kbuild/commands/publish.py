"""``kbuild publish``: write the TFTP tree on a real server, after verifying every built
profile and its hosts."""
from __future__ import annotations

import argparse
import sys

from kbuild.commands.common import add_target_arguments, target_dir
from kbuild.publish import stage
from kbuild.site.load import find_site_file, load_site


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")


def run(args: argparse.Namespace) -> int:
    from kbuild.verify.profile import verify_profile
    from kbuild.verify.render import failed_error

    if not args.dry_run:
        from kbuild.publish.delta import publish_short
        from kbuild.site.model import Site

        site_path = args.site or find_site_file()
        to = args.to.resolve() if args.to else None

        def verify_hosts(part: Site, profiles: list[str]) -> None:
            for built in stage.built_profiles(part):
                if built.profile.name in profiles:
                    checked = verify_profile(part, built.profile)
                    if not checked.passed:
                        raise failed_error(checked)

        # nothing changed since the last verified publish: answer without loading the
        # site; only some hosts changed: publish those (publish/delta.py)
        short = publish_short(site_path, to, need_verified=True, verify=verify_hosts)
        if short is not None:
            report, warnings = short
            for w in warnings:
                print(f"warning: {w}", file=sys.stderr)
            print(report.summary(), file=sys.stderr)
            return 0
    site = load_site(args.site)
    target = target_dir(site, args.to)
    # Never publish an entry whose kernel cannot boot it (profile or host entries).
    for built in stage.built_profiles(site):
        checked = verify_profile(site, built.profile)
        if not checked.passed:
            raise failed_error(checked)
    from kbuild.util.progress import ProgressLine

    with ProgressLine(interval=30) as progress:     # only a large site's publish reports any
        report, plan = stage.stage_with_plan(site, target, dry_run=args.dry_run, verified=True,
                                             progress=progress)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.dry_run:
        for rel in report.written:
            print(f"would write  {rel}")
        for rel in report.removed:
            print(f"would remove {rel}")
    print(report.summary(), file=sys.stderr)
    return 0


